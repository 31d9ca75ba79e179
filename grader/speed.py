"""Speed measurement: rounds of student calls interleaved with rounds of equal length of the
jitted autodiff baseline, each on fresh inputs; the ratio is the fastest student call over the
quiet rounds / the fastest baseline call over them.

Every number here comes from the trusted timer (grader.trusted_timer), never from the worker: a
student call's time is the timer's clock from sending the call's freshly drawn inputs until its
output's bytes are back, less the cost of that passing, calibrated on a trusted echo. So a
patched clock or timing loop in the worker changes nothing, remembering answers meets new data
on every call, and work deferred past the return (a lazy result) is still on the clock. Spot-
checked outputs must be right: a round with a wrong one gives no speed points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from grader.measurement import TimingOutcome
from grader.rubric import ProblemRubric, SpeedCurve, TimingSettings
from grader.scoring import speed_fraction

MAX_CALLS = 200
SIZING_CALLS = 4
# The shortest time either side counts for: a student call no slower than passing its inputs
# and output leaves less than the clocks can tell apart once the echo's time is taken off, and a
# ratio must never divide by zero.
MIN_CALL_S = 1e-6


@dataclass(frozen=True)
class StudentCalls:
    """One round of student calls, by the trusted timer's clock."""

    times: list[float]  # each call's round trip: inputs sent, function run, output back
    echo_times: list[float]  # the same round trip to the trusted echo: passing alone
    problem: str | None = None  # why a spot-checked output was wrong


@dataclass(frozen=True)
class BaselineTimes:
    """One round of the baseline, from the trusted timer."""

    times: list[float]


StudentRound = Callable[[int, int], StudentCalls]  # (round, calls)
BaselineRound = Callable[[int, int], BaselineTimes]


def calls_for(seconds_per_call: float, target_s: float) -> int:
    return max(1, min(MAX_CALLS, math.ceil(target_s / max(seconds_per_call, 1e-7))))


def cpu_problem(cpu_s: float, wall_s: float, cores: int) -> str | None:
    """Why the worker's CPU time over a timing phase does not fit its calls' time (work done
    by helpers between or beside the calls), or None."""
    if cpu_s > wall_s * cores * CPU_SLACK + 0.05:
        return f"the worker used {cpu_s:.3g} s of CPU in {wall_s:.3g} s of calls on {cores} cores"
    return None


CPU_SLACK = 1.25


# A shared machine has busy spells in which everything runs slower, eager student code (more
# memory traffic) often far more than the fused baseline (docs/performance.md has their length
# and frequency). Noise only ever adds time, so the phase's fastest rounds tell the spells: a
# pair of rounds is quiet when its student round and the baseline rounds on both sides of it each
# ran within QUIET_SLACK of their side's fastest round. Pairs are measured until min_repeats are
# quiet, up to MAX_ROUNDS_FACTOR * min_repeats pairs; the min_repeats quietest give the ratio.
# The fastest is the phase's own, not the batch's: a core's quiet speed drifts over minutes.
QUIET_SLACK = 1.10
# A student round's fastest call includes passing its inputs and output between processes, whose
# cost varies more from round to round than a call inside one process: measuring stops once
# enough student rounds ran within 20% of the phase's fastest. The estimate is the fastest call
# over the quiet pairs either way, so this slack decides how long to measure, not the result;
# whether the phase is settled (or timed again, see worth_retiming) is judged at QUIET_SLACK.
STUDENT_QUIET_SLACK = 1.20
MAX_ROUNDS_FACTOR = 2


# A round of one call is one sample of the student's time against the baseline's fastest of
# hundreds, and a long eager call suffers a spell more. Such answers are measured over
# ONE_CALL_REPEATS_FACTOR times as many quiet rounds while that stays cheap (calls up to
# ONE_CALL_EXTRA_MAX_S); docs/performance.md has the replayed spreads and the cost.
ONE_CALL_REPEATS_FACTOR = 2
ONE_CALL_EXTRA_MAX_S = 0.1


def quiet_rounds_needed(min_repeats: int, calls: int, call_s: float) -> int:
    if calls == 1 and call_s <= ONE_CALL_EXTRA_MAX_S:
        return min_repeats * ONE_CALL_REPEATS_FACTOR
    return min_repeats


@dataclass(frozen=True)
class Pair:
    """A student round and the baseline rounds around it (the first has none before it): the
    fastest call of each, in s (the student's with passing included)."""

    student_s: float
    baseline_s: float
    before_s: float = 0.0


def disturbances(pairs: list[Pair], student_slack: float = QUIET_SLACK) -> list[float]:
    """Per pair, how far past its quiet slack the slower side ran, against that side's fastest
    round in the phase: at most 1.0 for a quiet pair."""
    student = min(pair.student_s for pair in pairs)
    baseline = min(pair.baseline_s for pair in pairs)
    return [
        max(
            pair.student_s / student / student_slack,
            max(pair.baseline_s, pair.before_s) / baseline / QUIET_SLACK,
        )
        for pair in pairs
    ]


def quiet_pairs(pairs: list[Pair], student_slack: float = QUIET_SLACK) -> int:
    return sum(d <= 1.0 for d in disturbances(pairs, student_slack))


def quietest(pairs: list[Pair], count: int) -> list[Pair]:
    ranked = sorted(zip(disturbances(pairs), range(len(pairs)), strict=True))
    return [pairs[index] for _, index in ranked[:count]]


def measure_speed(
    student: StudentRound,
    baseline: BaselineRound,
    spec: TimingSettings,
    cores: int,
    cpu_seconds: Callable[[], float],
) -> TimingOutcome:
    """Rounds 1 and 2 size the calls per round; then pairs of rounds are measured until
    min_repeats of them are quiet. Round 0's input is the one the answer was checked on before
    timing, so no timed call sees it. `cpu_seconds` reads the CPU time used so far by the worker
    and all it started."""
    cpu_before = cpu_seconds()
    # Equal lengths, so a disturbance of the machine is as likely to hit either side of a pair.
    round_s = spec.budget_s / spec.min_repeats
    rounds = [student(1, 1)]
    if min(rounds[0].times) < round_s:
        rounds.append(student(2, SIZING_CALLS))
    student_once = min(min(r.times) for r in rounds)
    calls = calls_for(student_once, round_s)
    baseline_calls = calls_for(min(baseline(1, 2).times), round_s)
    repeats = quiet_rounds_needed(spec.min_repeats, calls, student_once)
    pairs: list[Pair] = []
    while len(pairs) < repeats * MAX_ROUNDS_FACTOR:
        index = len(rounds) + 1
        rounds.append(student(index, calls))
        before = pairs[-1].baseline_s if pairs else 0.0
        after = min(baseline(index, baseline_calls).times)
        pairs.append(Pair(min(rounds[-1].times), after, before))
        if rounds[-1].problem or quiet_pairs(pairs, STUDENT_QUIET_SLACK) >= repeats:
            break
    return _outcome(pairs, rounds, repeats, spec, cores, cpu_seconds() - cpu_before)


def _outcome(
    pairs: list[Pair],
    rounds: list[StudentCalls],
    repeats: int,
    spec: TimingSettings,
    cores: int,
    cpu_s: float,
) -> TimingOutcome:
    """Each side's fastest call over the quiet rounds: noise only ever adds time (interrupts,
    other processes, busy spells), so the fastest estimates the cost best, as timeit advises.
    The echo's fastest round trip over the phase is what passing costs."""
    used = quietest(pairs, repeats)
    passing = min(t for r in rounds for t in r.echo_times)
    wrong = next((r.problem for r in rounds if r.problem), None)
    flagged = f"a timed call returned a wrong result ({wrong})" if wrong else None
    timed_s = sum(t for r in rounds for t in r.times)
    return TimingOutcome(
        student_s=max(min(pair.student_s for pair in used) - passing, MIN_CALL_S),
        baseline_s=max(min(pair.baseline_s for pair in used), MIN_CALL_S),
        size=dict(spec.sizes),
        repeats=len(used),
        discarded=len(pairs) - len(used),
        flagged=flagged or cpu_problem(cpu_s, timed_s, cores),
        settled=quiet_pairs(pairs) >= repeats,
        pairs=tuple((pair.student_s, pair.baseline_s) for pair in pairs),
    )


# An answer whose speed points noise could have changed is timed again later, up to RETIMES more
# times: once at least, as a busy spell as long as a phase looks settled from inside it, and until
# an attempt is settled. A disturbance only ever adds time, so a ratio inside full points stays
# there, and one past zero_at by more than AT_STAKE_SLACK, a disturbance larger than any seen,
# stays past it. At the end of the batch every answer still at stake is timed once more (see
# at_stake): a spell can outlast one notebook's attempts, rarely the whole batch.
RETIMES = 2
AT_STAKE_SLACK = 2.0
AT_STAKE_ATTEMPTS = 2
# The kept (fastest) attempt is confirmed when another attempt came within this factor of it;
# otherwise the timing goes to the instructor for review (the best attempt is still scored).
REVIEW_SPREAD = 1.25
UNCONFIRMED = "timing could not be confirmed; your instructor will review it"


def better_timing(kept: TimingOutcome | None, new: TimingOutcome) -> TimingOutcome:
    """Of two attempts, a flagged one (a wrong timed output stays wrong), else a settled one,
    else the faster: a disturbance only ever slows a measurement."""
    if kept is None:
        return new
    if kept.flagged or new.flagged:
        best = kept if kept.flagged else new
    else:
        best = min((kept, new), key=lambda timing: (not timing.settled, timing.ratio))
    ratios = (*(kept.attempt_ratios or (kept.ratio,)), new.ratio)
    return replace(best, attempts=kept.attempts + 1, attempt_ratios=ratios)


def at_stake(timing: TimingOutcome | None, rubric: ProblemRubric) -> bool:
    """Its speed points could differ had the machine been quiet: such an answer is also timed
    once more at the end of the batch."""
    curve = rubric.speed
    if timing is None or timing.flagged or rubric.points.speed <= 0:
        return False
    on_slope = speed_fraction(timing.ratio, curve) < 1
    return on_slope and timing.ratio / AT_STAKE_SLACK < curve.zero_at


def worth_retiming(timing: TimingOutcome | None, rubric: ProblemRubric) -> bool:
    """At stake, and unsettled or timed fewer than AT_STAKE_ATTEMPTS times."""
    if timing is None or not at_stake(timing, rubric):
        return False
    return not timing.settled or timing.attempts < AT_STAKE_ATTEMPTS


def with_review(timing: TimingOutcome | None, curve: SpeedCurve) -> TimingOutcome | None:
    """Marked for review when no other attempt came within REVIEW_SPREAD of the kept one, and
    the attempts would not all earn the same speed points (all past zero_at, say: a spread
    there changes nothing)."""
    if timing is None or len(timing.attempt_ratios) < 2:
        return timing
    if len({speed_fraction(ratio, curve) for ratio in timing.attempt_ratios}) == 1:
        return replace(timing, review=None)
    others = list(timing.attempt_ratios)
    others.remove(min(others, key=lambda ratio: abs(ratio - timing.ratio)))
    confirmed = any(abs(math.log(r / timing.ratio)) <= math.log(REVIEW_SPREAD) for r in others)
    return replace(timing, review=None if confirmed else UNCONFIRMED)


def sizes_text(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sizes.items())
