"""Speed measurement: rounds of student calls (in the worker) interleaved with rounds of equal
length of the jitted autodiff baseline (in the timer process), each round on fresh inputs; the
ratio is the median over rounds of fastest student call / fastest baseline call.

The worker is student territory: it can patch its clock, skip the work, or remember answers. So
every timed call gets different inputs (protocol.varied_input: remembering answers gains nothing)
and each round returns its last output, which must be correct for that call's inputs; the
parent's clock around the round must agree with the times reported; and the CPU used must fit
the wall time. A round that fails any check flags the timing: no speed points.
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


StudentRound = Callable[[Case, int], Round]
BaselineRound = Callable[[Case, int], list[float]]


def calls_for(seconds_per_call: float, target_s: float) -> int:
    return max(1, min(MAX_CALLS, math.ceil(target_s / max(seconds_per_call, 1e-7))))


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


def measure_speed(
    student: StudentRound,
    baseline: BaselineRound,
    case_for_round: Callable[[int], Case],
    spec: Timing,
    cores: int,
    cpu_seconds: Callable[[], float],
) -> TimingOutcome:
    """Round 0 calibrates (overhead, calls per round); rounds 1..min_repeats are measured.
    `cpu_seconds` reads the CPU time used so far by the worker and all it started."""
    walls: list[float] = []

    def timed_student(case: Case, calls: int) -> Round:
        round_ = student(case, calls)
        walls.append(round_.wall_s)
        return round_

    cpu_before = cpu_seconds()
    first = case_for_round(0)
    overhead = min(MAX_OVERHEAD_S, *(timed_student(first, 0).wall_s for _ in range(3)))
    timed_student(first, 2)  # compiles what varying the inputs needs, outside any measurement
    once = timed_student(first, 1)
    # The parent's clock bounds the calibration too: a patched clock must not buy 1000 calls.
    student_once = max(min(once.reported_s), once.wall_s - overhead)
    baseline_once = min(baseline(first, 2))
    # Equal lengths, so a disturbance of the machine is as likely to hit either side of a pair.
    round_s = spec.budget_s / spec.min_repeats
    calls = calls_for(student_once, round_s)
    baseline_calls = calls_for(baseline_once, round_s)
    students, baselines = [], []
    flagged = None
    for index in range(1, spec.min_repeats + 1):
        case = case_for_round(index)
        round_ = timed_student(case, calls)
        flagged = flagged or integrity_problem(round_, overhead)
        students.append(min(round_.reported_s))
        baselines.append(min(baseline(case, baseline_calls)))
    # Noise only ever adds time (interrupts, other processes, cache misses), so the fastest
    # call of a round estimates its cost best, as timeit advises. Each round's ratio pairs
    # measurements taken moments apart, so drifts of the machine cancel; the median over rounds
    # drops the odd disturbed round.
    ratios = [s / b for s, b in zip(students, baselines, strict=True)]
    flagged = flagged or cpu_problem(cpu_seconds() - cpu_before, sum(walls), cores)
    return TimingOutcome(
        student_s=statistics.median(students),
        baseline_s=statistics.median(baselines),
        size=dict(first.sizes),
        repeats=spec.min_repeats,
        flagged=flagged,
        ratio=statistics.median(ratios),
    )


def sizes_text(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sizes.items())
