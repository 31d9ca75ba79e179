"""measure_speed as a pure function: rounds from a fake trusted timer in, ratio and verdicts out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from grader.measurement import TimingOutcome
from grader.rubric import CaseFamily, Points, ProblemRubric, SpeedCurve, TimingSettings
from grader.speed import (
    MIN_CALL_S,
    UNCONFIRMED,
    BaselineTimes,
    StudentCalls,
    at_stake,
    better_timing,
    measure_speed,
    with_review,
    worth_retiming,
)

SPEC = TimingSettings(sizes={"n": 3}, min_repeats=5, budget_s=0.01)
PASSING_S = 1e-4  # what the echo's round trip costs: inputs in, output back

StudentRound = Callable[[int, int], StudentCalls]
BaselineRound = Callable[[int, int], BaselineTimes]


def honest(per_call: Callable[[int], float], problem: str | None = None) -> StudentRound:
    """Round r's calls take per_call(r) plus passing by the timer's clock."""

    def student(index: int, calls: int) -> StudentCalls:
        return StudentCalls([per_call(index) + PASSING_S] * calls, [PASSING_S] * calls, problem)

    return student


def baseline_at(per_call: Callable[[int], float]) -> BaselineRound:
    return lambda index, calls: BaselineTimes([per_call(index)] * calls)


def measure(student: StudentRound, baseline: BaselineRound, cpu_used: float = 0.0) -> TimingOutcome:
    readings = iter([0.0, cpu_used])
    return measure_speed(student, baseline, SPEC, 2, lambda: next(readings))


# Rounds 1 and 2 size the calls; pairs start at round 3. More busy rounds than a median of
# min_repeats rounds could drop.
BUSY_ROUNDS = {4: 1.5, 5: 1.5, 6: 1.5}


@pytest.mark.parametrize(
    ("student_slowdown", "baseline_slowdown", "discarded", "settled"),
    [
        pytest.param({}, {}, 0, True, id="quiet-machine"),
        # Pairs 2-4, and pair 5 whose baseline round before it ran in the spell.
        pytest.param(BUSY_ROUNDS, BUSY_ROUNDS, 4, True, id="both-sides-slowed-alike"),
        # Eager student code suffers more from a busy spell than the fused baseline.
        pytest.param(
            dict.fromkeys(BUSY_ROUNDS, 2.5), BUSY_ROUNDS, 4, True, id="student-slowed-more"
        ),
        pytest.param(BUSY_ROUNDS, {}, 3, True, id="a-spell-only-the-student-saw"),
        # Measured up to twice min_repeats pairs; then the quietest are used, and the phase is
        # measured again later (unsettled).
        pytest.param(
            dict.fromkeys(range(4, 10), 1.5), {}, 5, False, id="spell-past-the-extra-pairs"
        ),
    ],
)
def test_rounds_in_a_busy_spell_are_measured_again(
    student_slowdown: dict[int, float],
    baseline_slowdown: dict[int, float],
    discarded: int,
    settled: bool,
) -> None:
    outcome = measure(
        honest(lambda r: 3e-4 * student_slowdown.get(r, 1.0)),
        baseline_at(lambda r: 1e-4 * baseline_slowdown.get(r, 1.0)),
    )
    assert outcome.ratio == pytest.approx(3.0) and outcome.discarded == discarded
    assert outcome.repeats == SPEC.min_repeats and outcome.flagged is None
    assert outcome.settled == settled


def test_a_phase_without_enough_quiet_rounds_is_unsettled_but_not_flagged() -> None:
    outcome = measure(honest(lambda r: 3e-4 * (1.5 if r % 3 else 1.0)), baseline_at(lambda r: 1e-4))
    assert not outcome.settled and outcome.flagged is None
    assert outcome.ratio == pytest.approx(3.0)


def test_a_spell_within_the_quiet_slack_over_most_rounds_does_not_count() -> None:
    # 8% slower on three rounds of five: all quiet enough to keep, and a median of per-round
    # ratios would have reported the spell.
    outcome = measure(
        honest(lambda r: 2e-4 * (1.08 if r <= 5 else 1.0)), baseline_at(lambda r: 1e-4)
    )
    assert outcome.discarded == 0 and outcome.ratio == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize(
    ("call_s", "repeats"),
    [
        pytest.param(1e-4, 5, id="many-calls-a-round"),
        pytest.param(3e-3, 10, id="one-call-a-round"),
        pytest.param(0.2, 5, id="one-call-too-slow-for-more-rounds"),
    ],
)
def test_answers_with_one_call_a_round_get_more_quiet_rounds(call_s: float, repeats: int) -> None:
    outcome = measure(honest(lambda r: call_s), baseline_at(lambda r: 1e-4))
    assert outcome.repeats == repeats and outcome.discarded == 0


@pytest.mark.parametrize(
    ("call_s", "echo_s", "student_s"),
    [
        pytest.param(5e-4, 1e-4, 4e-4, id="passing-taken-off"),
        # The echo's fastest over the phase counts, not a slow echo round.
        pytest.param(5e-4, 3e-4, 4e-4, id="a-slow-echo-round-ignored"),
        # Faster than passing alone: the clocks cannot tell it apart from nothing; no zero.
        pytest.param(1e-4, 1e-4, MIN_CALL_S, id="no-slower-than-passing"),
    ],
)
def test_what_passing_costs_is_taken_off_the_students_round_trip(
    call_s: float, echo_s: float, student_s: float
) -> None:
    def student(index: int, calls: int) -> StudentCalls:
        echo = [echo_s if index == 4 else 1e-4] * calls
        return StudentCalls([call_s] * calls, echo)

    outcome = measure(student, baseline_at(lambda r: 1e-4))
    assert outcome.student_s == pytest.approx(student_s)
    assert outcome.ratio > 0


@pytest.mark.parametrize(
    ("student", "cpu_used", "reason"),
    [
        pytest.param(
            honest(lambda r: 2e-4, "max error 1"), 0.0, "returned a wrong result (max error 1)",
            id="wrong-output",
        ),
        pytest.param(honest(lambda r: 2e-4), 5.0, "s of CPU in", id="helpers-did-the-work"),
    ],
)  # fmt: skip
def test_what_gives_no_speed_points(student: StudentRound, cpu_used: float, reason: str) -> None:
    flagged = measure(student, baseline_at(lambda r: 1e-4), cpu_used).flagged
    assert flagged is not None and reason in flagged


def test_student_rounds_are_as_long_as_the_baselines() -> None:
    calls: list[int] = []

    def student(index: int, calls_in_round: int) -> StudentCalls:
        calls.append(calls_in_round)
        return honest(lambda r: 1e-4)(index, calls_in_round)

    measure(student, baseline_at(lambda r: 1e-4))
    round_s = SPEC.budget_s / SPEC.min_repeats
    assert calls[-1] * (1e-4 + PASSING_S) == pytest.approx(round_s)


def test_a_call_that_fills_a_round_is_not_sized_with_more_calls() -> None:
    calls: list[int] = []

    def student(index: int, calls_in_round: int) -> StudentCalls:
        calls.append(calls_in_round)
        return honest(lambda r: 0.05)(index, calls_in_round)  # 25 times a round of SPEC

    measure(student, baseline_at(lambda r: 1e-4))
    assert calls == [1] * len(calls)


def outcome(ratio: float, settled: bool = True, flagged: str | None = None) -> TimingOutcome:
    return TimingOutcome(ratio * 1e-4, 1e-4, {}, 5, flagged=flagged, settled=settled)


@pytest.mark.parametrize(
    ("kept", "new", "ratio", "flagged"),
    [
        pytest.param(outcome(3.0, settled=False), outcome(2.0), 2.0, None, id="settled-wins"),
        pytest.param(outcome(2.0), outcome(1.5, settled=False), 2.0, None, id="settled-kept"),
        pytest.param(outcome(3.0, False), outcome(2.5, False), 2.5, None, id="faster-unsettled"),
        pytest.param(outcome(2.0), outcome(1.8), 1.8, None, id="faster-settled"),
        # A wrong timed output stays wrong, however fast another attempt was.
        pytest.param(outcome(2.0, flagged="wrong"), outcome(1.0), 2.0, "wrong", id="flag-stays"),
    ],
)
def test_the_best_trustworthy_attempt_is_kept(
    kept: TimingOutcome, new: TimingOutcome, ratio: float, flagged: str | None
) -> None:
    best = better_timing(kept, new)
    assert best.ratio == pytest.approx(ratio) and (best.flagged, best.attempts) == (flagged, 2)


RUBRIC = ProblemRubric(
    names=["f"],
    points=Points(correctness=1, speed=0.5),
    cases=[CaseFamily(name="random", sizes=[{"n": 3}])],
    speed=SpeedCurve(full_at=10, zero_at=100),
)


@pytest.mark.parametrize(
    ("timing", "again", "late"),
    [
        pytest.param(outcome(3.0), False, False, id="settled-inside-full-points"),
        pytest.param(outcome(30.0, settled=False), True, True, id="unsettled-on-the-slope"),
        # A spell as long as the phase looks settled from inside: timed twice at least.
        pytest.param(outcome(30.0), True, True, id="settled-on-the-slope-once"),
        # A spell can outlast a notebook's attempts: at stake is timed once more at the end.
        pytest.param(replace(outcome(30.0), attempts=2), False, True, id="on-the-slope-twice"),
        # A disturbance only adds time: inside full points it cannot have cost any.
        pytest.param(outcome(8.0, settled=False), False, False, id="unsettled-full-points"),
        pytest.param(outcome(150.0, settled=False), True, True, id="just-past-zero-points"),
        pytest.param(outcome(500.0, settled=False), False, False, id="far-past-zero-points"),
        pytest.param(outcome(30.0, False, "wrong"), False, False, id="flagged"),
        pytest.param(None, False, False, id="not-timed"),
    ],
)
def test_only_timings_with_points_at_stake_are_timed_again(
    timing: TimingOutcome | None, again: bool, late: bool
) -> None:
    assert worth_retiming(timing, RUBRIC) == again
    assert at_stake(timing, RUBRIC) == late


@pytest.mark.parametrize(
    ("ratios", "review"),
    [
        pytest.param((98.0, 101.0, 103.0), None, id="attempts-agree"),
        pytest.param((45.0, 30.0, 31.0), None, id="a-later-attempt-confirms-the-best"),
        pytest.param((30.0, 45.0, 60.0), UNCONFIRMED, id="nothing-confirms-the-best"),
        pytest.param((30.0, 45.0), UNCONFIRMED, id="two-that-disagree"),
        pytest.param((250.0, 320.0, 400.0), None, id="no-attempt-earns-speed-points"),
        pytest.param((2.0, 3.0, 5.0), None, id="every-attempt-earns-full-points"),
    ],
)
def test_unsettled_attempts_go_to_review_only_when_nothing_confirms_the_kept_one(
    ratios: tuple[float, ...], review: str | None
) -> None:
    kept: TimingOutcome | None = None
    for ratio in ratios:
        kept = better_timing(kept, outcome(ratio, settled=False))
    reviewed = with_review(kept, RUBRIC.speed)
    assert reviewed is not None and reviewed.review == review
    assert reviewed.ratio == pytest.approx(min(ratios)) and reviewed.attempts == len(ratios)


def test_student_rounds_within_the_wider_slack_end_the_phase_but_leave_it_unsettled() -> None:
    # Round trips 15% apart: measuring stops after min_repeats pairs, and the phase goes to be
    # timed again where its points are at stake.
    rounds: list[int] = []

    def student(index: int, calls: int) -> StudentCalls:
        rounds.append(index)
        return honest(lambda r: 3e-4 * (1.15 if r % 2 else 1.0))(index, calls)

    outcome = measure(student, baseline_at(lambda r: 1e-4))
    assert len(rounds) == 2 + SPEC.min_repeats and not outcome.settled
    assert outcome.ratio == pytest.approx(3.0)
