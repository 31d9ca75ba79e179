"""Speed measurement: rounds of student calls (in the worker) interleaved with rounds of equal
length of the jitted autodiff baseline (in the timer process), each round on fresh inputs; the
ratio is the fastest student call over the quiet rounds / the fastest baseline call over them.

The worker is student territory: it can patch its clock, skip the work, or remember answers. So
every timed call gets different inputs (protocol.varied_input: remembering answers gains nothing)
and each round returns its last output, which must be correct for that call's inputs; the
parent's clock around the round must agree with the times reported, and bounds the fastest call
from below; and the CPU used must fit the wall time. A round that fails a check is never used;
when half the rounds or more fail, or the CPU does not fit, the timing is flagged: no speed
points.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from grader.inputs import Case
from grader.rubric import Timing
from grader.scoring import TimingOutcome

MAX_CALLS = 200
# Reported time falls below the parent's wall time by the costs of a round outside the calls:
# receiving fresh inputs (measured with empty rounds; a worker could inflate those, so they
# count up to a cap), varying them before each call and returning the last output (not
# measured: up to ~half of a round of very fast calls). A patched clock reports a small
# fraction; an honest worker, most.
REPORTED_SHARE = 0.35
REPORTED_SLACK_S = 0.002
MAX_OVERHEAD_S = 0.002
CPU_SLACK = 1.25


@dataclass(frozen=True)
class Round:
    """One round of student calls: what the worker reported and what the parent observed."""

    reported_s: list[float]
    wall_s: float
    output_problem: str | None = None


@dataclass(frozen=True)
class BaselineTimes:
    """One round of the baseline, from the trusted timer."""

    times: list[float]
    untimed_s: float = 0.0  # the timer's seconds between its calls: varying and blocking inputs

    def untimed_per_call(self) -> float:
        return self.untimed_s / max(len(self.times), 1)


StudentRound = Callable[[Case, int], Round]
BaselineRound = Callable[[Case, int], BaselineTimes]


def calls_for(seconds_per_call: float, target_s: float) -> int:
    return max(1, min(MAX_CALLS, math.ceil(target_s / max(seconds_per_call, 1e-7))))


SIZING_CALLS = 4


def per_call_seconds(one: Round, more: Round) -> float:
    """What a student call costs, to size the rounds: the worker's report, bounded below by the
    parent's clock over the calls that the longer round added, so that a patched clock cannot buy
    a round of MAX_CALLS slow calls. The difference of two rounds cancels what every round costs
    once (sending the inputs, returning the output): bounding by one round's wall time counted
    that as a call, and student rounds came out at a quarter of the baseline's length (grad_u:
    11 calls, 10.7 ms, against 48 calls, 37 ms)."""
    added = max(len(more.reported_s) - len(one.reported_s), 1)
    return max(min(more.reported_s), (more.wall_s - one.wall_s) / added)


def student_call_seconds(student: StudentRound, first: Case, round_s: float) -> float:
    """A student call's cost, from a round of one call and, unless that call fills a round
    already (then a longer round would only cost time, or time out), a round of SIZING_CALLS. A
    worker that claims a long call gets rounds of one call, which it cannot gain from."""
    one = student(first, 1)
    reported = min(one.reported_s)
    if reported >= round_s:
        return reported
    return per_call_seconds(one, student(first, SIZING_CALLS))


# The parent can check only the sum of a round's reported calls against its clock, not any one
# call: a clock that stalls once a round (one call reported as 0 s) would otherwise set the
# round's fastest call, and the ratio, at will. So a round's fastest call counts for at least
# FASTEST_SHARE of its mean call, which the sum check bounds. Honest rounds had their fastest
# call at a median 0.93 of the mean, under 0.7 in 4 rounds of 511 (20 notebooks, -j 2): those
# that a spell slowed only look slower for it, and are measured again.
FASTEST_SHARE = 0.7
# A clock slowed evenly keeps every report in proportion and the sum above REPORTED_SHARE: with
# only the sum check, a worker could report 0.36 of each call. The parent's clock bounds the mean
# call too, once the trusted timer's own cost between calls (varying the inputs) is taken off;
# the fastest call counts for at least CLOCK_SHARE of that. Honest rounds' fastest calls ran at
# a median 0.83 of it, p1 0.50 (1,938 rounds, 30 notebooks of each mix of
# benchmarks/grade_class.py, in a busy hour): spells lengthen a round, not its fastest call. The
# bound at 0.5 raised one of those rounds, which the sum check rejected too (its wall time 6x the
# reports: the grader's thread waiting for the GIL); at 0.7, 19% of 941 rounds, by up to 33%.
CLOCK_SHARE = 0.5


def believable_fastest(times: list[float], clock_mean_s: float) -> float:
    """The round's fastest call, but at least FASTEST_SHARE of its reported mean call and
    CLOCK_SHARE of its mean call by the parent's clock (clock_mean_call)."""
    return max(min(times), FASTEST_SHARE * sum(times) / len(times), CLOCK_SHARE * clock_mean_s)


def clock_mean_call(round_: Round, overhead_s: float, untimed_per_call_s: float) -> float:
    """The student's mean call by the parent's clock: the round's wall time less its fixed cost
    (overhead_s) and what the trusted timer spent between its own calls on the same inputs."""
    calls = len(round_.reported_s)
    return max(round_.wall_s - overhead_s - calls * untimed_per_call_s, 0.0) / calls


def integrity_problem(round_: Round, overhead_s: float) -> str | None:
    """Why the parent does not believe this round's report, or None when it does."""
    if round_.output_problem:
        return f"the timed calls returned a wrong result ({round_.output_problem})"
    times = round_.reported_s
    reported = sum(times)
    observed = max(round_.wall_s - overhead_s, 0.0)
    if reported < REPORTED_SHARE * observed - REPORTED_SLACK_S:
        return (
            f"the function reported {reported * 1e3:.3g} ms but the grader measured "
            f"{observed * 1e3:.3g} ms (was the clock patched?)"
        )
    return None


def cpu_problem(cpu_s: float, wall_s: float, cores: int) -> str | None:
    """Why the worker's CPU time over a timing phase does not fit its rounds' wall time (work
    done by helpers), or None. Checked per phase: counting a process tree's CPU reads /proc."""
    if cpu_s > wall_s * cores * CPU_SLACK + 0.05:
        return (
            f"the worker used {cpu_s:.3g} s of CPU in {wall_s:.3g} s of wall time on {cores} cores"
        )
    return None


# A shared machine has busy spells in which everything runs slower, eager student code (more
# memory traffic) often far more than the fused baseline: a phase measured in one came out 10-60%
# high. On this VM they took 10-20% of the time, mostly 0.1-0.3 s long, some over 1 s
# (benchmarks/busy_spells.py). Since noise only ever adds time, the phase's fastest rounds tell
# them: a pair of rounds is quiet when its student round and the baseline rounds on both sides of
# it each ran within QUIET_SLACK of their side's fastest round. Pairs are measured until
# min_repeats are quiet, up to MAX_ROUNDS_FACTOR * min_repeats pairs; the min_repeats quietest
# give the ratio. (A memory of the fastest baseline across a batch would also catch spells as
# long as a phase, but a core's quiet speed drifts by 10-20% over minutes, so it kept whole
# phases re-measuring.)
QUIET_SLACK = 1.10
MAX_ROUNDS_FACTOR = 2


# A round of one call is one sample of the student's time against the baseline's fastest of
# hundreds, and a long eager call suffers a spell more: the seed's row loop (one 21 ms call a
# round) ran at up to 45 ms through whole phases. Such answers are measured over
# ONE_CALL_REPEATS_FACTOR times as many quiet rounds while that stays cheap (calls up to
# ONE_CALL_EXTRA_MAX_S). Replayed over the rounds of a noisy hour (benchmarks/replay.py), the
# loop's spread fell from 21.5% to 13-15%; 100 seed copies took 2.48 and 2.62 s per notebook
# with this, 2.45 and 2.63 s without (benchmarks/grade_class.py).
ONE_CALL_REPEATS_FACTOR = 2
ONE_CALL_EXTRA_MAX_S = 0.1


def quiet_rounds_needed(min_repeats: int, calls: int, call_s: float) -> int:
    if calls == 1 and call_s <= ONE_CALL_EXTRA_MAX_S:
        return min_repeats * ONE_CALL_REPEATS_FACTOR
    return min_repeats


@dataclass(frozen=True)
class Pair:
    """A student round and the baseline rounds around it (the first has none before it): the
    fastest call of each, in s."""

    student_s: float
    baseline_s: float
    before_s: float = 0.0
    problem: str | None = None  # why the student round is not believed (integrity_problem)


def disturbances(pairs: list[Pair]) -> list[float]:
    """Per pair, how much slower than the phase's fastest believed rounds it ran (1.0: not at
    all; infinite for a round that is not believed)."""
    believed = [pair for pair in pairs if not pair.problem] or pairs
    student = min(pair.student_s for pair in believed)
    baseline = min(pair.baseline_s for pair in believed)
    return [
        math.inf
        if pair.problem
        else max(pair.student_s / student, max(pair.baseline_s, pair.before_s) / baseline)
        for pair in pairs
    ]


def distrust(pairs: list[Pair]) -> str | None:
    """Why the phase's timing is not believed: half of its rounds or more were not. One round
    alone can miss its wall-time check honestly (seen once in the test suite, with other
    gradings in the grader's other threads); a patched clock or remembered answers fail every
    round."""
    problems = [pair.problem for pair in pairs if pair.problem]
    return problems[0] if 2 * len(problems) >= len(pairs) else None


def quietest(pairs: list[Pair], count: int) -> list[Pair]:
    ranked = sorted(zip(disturbances(pairs), range(len(pairs)), strict=True))
    return [pairs[index] for _, index in ranked[:count]]


def measure_speed(
    student: StudentRound,
    baseline: BaselineRound,
    case_for_round: Callable[[int], Case],
    spec: Timing,
    cores: int,
    cpu_seconds: Callable[[], float],
) -> TimingOutcome:
    """Round 0 calibrates (overhead, calls per round); then pairs of rounds are measured until
    min_repeats of them are quiet. `cpu_seconds` reads the CPU time used so far by the worker
    and all it started."""
    walls: list[float] = []

    def timed_student(case: Case, calls: int) -> Round:
        round_ = student(case, calls)
        walls.append(round_.wall_s)
        return round_

    cpu_before = cpu_seconds()
    first = case_for_round(0)
    overhead = min(MAX_OVERHEAD_S, *(timed_student(first, 0).wall_s for _ in range(3)))
    timed_student(first, 2)  # compiles what varying the inputs needs, outside any measurement
    # Equal lengths, so a disturbance of the machine is as likely to hit either side of a pair.
    round_s = spec.budget_s / spec.min_repeats
    student_once = student_call_seconds(timed_student, first, round_s)
    baseline_once = min(baseline(first, 2).times)  # also compiles the timer's input varying
    calls = calls_for(student_once, round_s)
    baseline_calls = calls_for(baseline_once, round_s)
    repeats = quiet_rounds_needed(spec.min_repeats, calls, student_once)
    pairs: list[Pair] = []
    untimed: list[float] = []  # per call, by the timer; the median, as a spell can stretch one
    while len(pairs) < repeats * MAX_ROUNDS_FACTOR:
        case = case_for_round(len(pairs) + 1)
        round_ = timed_student(case, calls)
        problem = integrity_problem(round_, overhead)
        before = pairs[-1].baseline_s if pairs else 0.0
        after = baseline(case, baseline_calls)
        untimed.append(after.untimed_per_call())
        clock_mean = clock_mean_call(round_, overhead, statistics.median(untimed))
        student_s = believable_fastest(round_.reported_s, clock_mean)
        pairs.append(Pair(student_s, min(after.times), before, problem))
        if sum(d <= QUIET_SLACK for d in disturbances(pairs)) >= repeats:
            break
    used = quietest(pairs, repeats)
    # Noise only ever adds time (interrupts, other processes, busy spells), so each side's
    # fastest call over the quiet rounds estimates its cost best, as timeit advises. The median
    # of per-round ratios took in a spell whenever it reached three quiet rounds of five, and
    # spells slow eager student code far more than a fused baseline's fastest of 2,000 calls:
    # replayed over recorded phases (benchmarks/replay.py), that median spread the seed's row
    # loop's ratio 36% across a class, these 22%.
    flagged = distrust(pairs) or cpu_problem(cpu_seconds() - cpu_before, sum(walls), cores)
    return TimingOutcome(
        student_s=min(pair.student_s for pair in used),
        baseline_s=min(pair.baseline_s for pair in used),
        size=dict(first.sizes),
        repeats=len(used),
        discarded=len(pairs) - len(used),
        flagged=flagged,
    )


def sizes_text(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sizes.items())
