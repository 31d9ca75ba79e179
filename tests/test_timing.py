"""measure_speed as a pure function: fake rounds in, ratio and integrity verdicts out."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from grader.inputs import Case
from grader.rubric import Timing
from grader.scoring import TimingOutcome
from grader.timing import (
    CLOCK_SHARE,
    FASTEST_SHARE,
    BaselineTimes,
    Round,
    measure_speed,
    per_call_seconds,
)

SPEC = Timing(sizes={"n": 3}, min_repeats=5, budget_s=0.01)


def case_for_round(index: int) -> Case:
    return Case(family="timing", index=index, sizes={"n": 3}, args=())


def honest(per_call: Callable[[int], float]) -> Callable[[Case, int], Round]:
    """A worker whose reports agree with the parent's clock; round r's calls take per_call(r)."""

    def student(case: Case, calls: int) -> Round:
        times = [per_call(case.index)] * calls
        return Round(times, sum(times) + 1e-4)

    return student


def baseline_at(
    per_call: Callable[[int], float], untimed_per_call: float = 0.0
) -> Callable[[Case, int], BaselineTimes]:
    return lambda case, calls: BaselineTimes(
        [per_call(case.index)] * calls, untimed_per_call * calls
    )


def measure(
    student: Callable[[Case, int], Round],
    baseline: Callable[[Case, int], BaselineTimes],
    cpu_used: float = 0.0,
) -> TimingOutcome:
    readings = iter([0.0, cpu_used])
    return measure_speed(student, baseline, case_for_round, SPEC, 2, lambda: next(readings))


# More busy rounds than a median of min_repeats rounds could drop.
BUSY_ROUNDS = {2: 1.5, 3: 1.5, 4: 1.5}


@pytest.mark.parametrize(
    ("student_slowdown", "baseline_slowdown", "discarded"),
    [
        pytest.param({}, {}, 0, id="quiet-machine"),
        # Pairs 2-4, and pair 5 whose baseline round before it ran in the spell.
        pytest.param(BUSY_ROUNDS, BUSY_ROUNDS, 4, id="both-sides-slowed-alike"),
        # Eager student code suffers more from a busy spell than the fused baseline.
        pytest.param(dict.fromkeys(BUSY_ROUNDS, 2.5), BUSY_ROUNDS, 4, id="student-slowed-more"),
        pytest.param(BUSY_ROUNDS, {}, 3, id="a-spell-only-the-student-saw"),
        # Measured again up to twice min_repeats pairs; then the quietest are used.
        pytest.param(dict.fromkeys(range(2, 8), 1.5), {}, 5, id="spell-past-the-extra-pairs"),
    ],
)
def test_rounds_in_a_busy_spell_are_measured_again(
    student_slowdown: dict[int, float], baseline_slowdown: dict[int, float], discarded: int
) -> None:
    outcome = measure(
        honest(lambda r: 3e-4 * student_slowdown.get(r, 1.0)),
        baseline_at(lambda r: 1e-4 * baseline_slowdown.get(r, 1.0)),
    )
    assert outcome.ratio == pytest.approx(3.0) and outcome.discarded == discarded
    assert outcome.repeats == SPEC.min_repeats and outcome.flagged is None


def test_one_round_the_grader_observed_stalling_is_left_out_not_flagged() -> None:
    # The grader's own thread can wait for the GIL after a round: its clock then runs long.
    def student(case: Case, calls: int) -> Round:
        times = [2e-4] * calls
        return Round(times, sum(times) * (10 if case.index == 3 else 1) + 1e-4)

    outcome = measure(student, baseline_at(lambda r: 1e-4))
    assert (outcome.flagged, outcome.discarded) == (None, 1)
    assert outcome.ratio == pytest.approx(2.0)


def test_rounds_with_a_patched_clock_are_never_used() -> None:
    # Two of the first five rounds claim 100x less time than the grader saw.
    def student(case: Case, calls: int) -> Round:
        times = [2e-2] * calls
        return Round([t / 100 for t in times] if case.index in (2, 4) else times, sum(times))

    outcome = measure(student, baseline_at(lambda r: 1e-2))
    assert (outcome.flagged, outcome.discarded) == (None, 2)
    assert outcome.ratio == pytest.approx(2.0)


def test_a_disturbed_student_round_does_not_count() -> None:
    outcome = measure(honest(lambda r: 5e-3 if r == 4 else 2e-4), baseline_at(lambda r: 1e-4))
    assert outcome.ratio == pytest.approx(2.0)


def test_a_spell_within_the_quiet_slack_over_most_rounds_does_not_count() -> None:
    # 8% slower on three rounds of five: all quiet enough to keep, and a median of per-round
    # ratios would have reported the spell (2.16, not 2.0).
    outcome = measure(
        honest(lambda r: 2e-4 * (1.08 if r <= 3 else 1.0)), baseline_at(lambda r: 1e-4)
    )
    assert outcome.discarded == 0 and outcome.ratio == pytest.approx(2.0)


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


def test_one_call_reported_as_instant_does_not_set_the_round() -> None:
    # A clock that stalls once a round; the other nine calls of each round are honest.
    def student(case: Case, calls: int) -> Round:
        times = [2e-4] * (calls - 1) + [0.0]
        return Round(times, 2e-4 * calls + 1e-4)

    outcome = measure(student, baseline_at(lambda r: 1e-4))
    assert outcome.ratio == pytest.approx(FASTEST_SHARE * 2.0 * 0.9)


def test_a_clock_slowed_evenly_is_held_by_the_parents_clock() -> None:
    # Each call reported at 0.45 of its 0.2 ms: the sum passes its check, but the parent saw
    # 0.25 ms a call, of which the trusted timer spends 0.05 ms between its own calls.
    def student(case: Case, calls: int) -> Round:
        return Round([0.45 * 2e-4] * calls, calls * (2e-4 + 5e-5) + 1e-4)

    outcome = measure(student, baseline_at(lambda r: 1e-4, untimed_per_call=5e-5))
    assert outcome.flagged is None
    assert outcome.ratio == pytest.approx(CLOCK_SHARE * 2.0)


@pytest.mark.parametrize(
    ("student", "cpu_used", "reason"),
    [
        pytest.param(
            lambda case, calls: Round([1e-6] * calls, 0.02 * calls + 1e-4),
            0.0,
            "(was the clock patched?)",
            id="clock-reports-too-little",
        ),
        pytest.param(
            lambda case, calls: Round([2e-4] * calls, 2e-4 * calls, "max error 1"),
            0.0,
            "returned a wrong result (max error 1)",
            id="wrong-output",
        ),
        pytest.param(honest(lambda r: 2e-4), 5.0, "s of CPU in", id="helpers-did-the-work"),
    ],
)
def test_rounds_the_grader_does_not_believe_are_flagged(
    student: Callable[[Case, int], Round], cpu_used: float, reason: str
) -> None:
    flagged = measure(student, baseline_at(lambda r: 1e-4), cpu_used).flagged
    assert flagged is not None and reason in flagged


@pytest.mark.parametrize(
    ("one", "more", "expected"),
    [
        # Every round also costs 5 ms once (inputs in, output back): not a call's cost.
        pytest.param(Round([1e-3], 6e-3), Round([1e-3] * 4, 9e-3), 1e-3, id="honest"),
        pytest.param(Round([1e-6], 6e-3), Round([1e-6] * 4, 9e-3), 1e-3, id="patched-clock"),
        # A jittery parent clock (the longer round seen faster) falls back on the report.
        pytest.param(Round([2e-5], 6e-3), Round([2e-5] * 4, 5e-3), 2e-5, id="jitter"),
    ],
)
def test_a_call_costs_what_the_longer_round_added(one: Round, more: Round, expected: float) -> None:
    assert per_call_seconds(one, more) == pytest.approx(expected)


def test_student_rounds_are_as_long_as_the_baselines() -> None:
    calls: list[int] = []

    def student(case: Case, calls_in_round: int) -> Round:
        calls.append(calls_in_round)
        times = [2e-4] * calls_in_round
        return Round(times, sum(times) + 5e-3)  # 5 ms a round for inputs and output

    measure(student, baseline_at(lambda r: 1e-4))
    round_s = SPEC.budget_s / SPEC.min_repeats
    assert calls[-1] * 2e-4 == pytest.approx(round_s)


def test_a_call_that_fills_a_round_is_not_sized_with_more_calls() -> None:
    calls: list[int] = []

    def student(case: Case, calls_in_round: int) -> Round:
        calls.append(calls_in_round)
        times = [0.05] * calls_in_round  # 25 times a round of SPEC
        return Round(times, sum(times) + 1e-4)

    measure(student, baseline_at(lambda r: 1e-4))
    assert max(calls) == 2  # the warm-up round; every timed round has one call
    assert calls[-1] == 1
