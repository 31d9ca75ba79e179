"""Speed measurement: rounds of student calls (in the worker) interleaved with rounds of the
jitted autodiff baseline (in the grader), each round on fresh inputs, medians of per-call means.

The worker's own clock is student territory (a student can patch time.perf_counter), so the
parent's clock around every round is the authority: a round whose reported time falls short of
what the parent saw, or that used more CPU than its wall time allows, is flagged and earns no
speed points.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from grader.inputs import Case
from grader.rubric import Timing
from grader.scoring import TimingOutcome

BASELINE_ROUND_S = 0.02
MAX_CALLS = 1000
# Reported time may fall below the parent's wall time by transfer and dispatch costs, which
# the calibration round measures; beyond this share and slack the report is not believed.
REPORTED_SHARE = 0.8
REPORTED_SLACK_S = 0.002
CPU_SLACK = 1.25


@dataclass(frozen=True)
class Round:
    """One round of student calls: what the worker reported and what the parent observed."""

    reported_s: list[float]
    wall_s: float
    cpu_s: float | None = None


StudentRound = Callable[[Case, int], Round]
BaselineRound = Callable[[Case, int], list[float]]


def calls_for(seconds_per_call: float, target_s: float) -> int:
    return max(1, min(MAX_CALLS, math.ceil(target_s / max(seconds_per_call, 1e-7))))


def integrity_problem(round_: Round, overhead_s: float, cores: int) -> str | None:
    """Why the parent does not believe this round's report, or None when it does."""
    reported = sum(round_.reported_s)
    observed = max(round_.wall_s - overhead_s, 0.0)
    if reported < REPORTED_SHARE * observed - REPORTED_SLACK_S:
        return (
            f"the function reported {reported * 1e3:.3g} ms but the grader measured "
            f"{observed * 1e3:.3g} ms (was the clock patched?)"
        )
    if round_.cpu_s is not None and round_.cpu_s > round_.wall_s * cores * CPU_SLACK + 0.05:
        return (
            f"the worker used {round_.cpu_s:.3g} s of CPU in {round_.wall_s:.3g} s of wall "
            f"time on {cores} cores"
        )
    return None


def measure_speed(
    student: StudentRound,
    baseline: BaselineRound,
    case_for_round: Callable[[int], Case],
    spec: Timing,
    cores: int,
) -> TimingOutcome:
    """Round 0 calibrates (overhead, calls per round); rounds 1..min_repeats are measured."""
    first = case_for_round(0)
    overhead = student(first, 0).wall_s
    student_once = min(student(first, 1).reported_s)
    baseline_once = min(baseline(first, 2))
    calls = calls_for(student_once, spec.budget_s / spec.min_repeats)
    baseline_calls = calls_for(baseline_once, BASELINE_ROUND_S)
    student_means, baseline_means = [], []
    flagged = None
    for index in range(1, spec.min_repeats + 1):
        case = case_for_round(index)
        round_ = student(case, calls)
        flagged = flagged or integrity_problem(round_, overhead, cores)
        student_means.append(statistics.fmean(round_.reported_s))
        baseline_means.append(statistics.fmean(baseline(case, baseline_calls)))
    return TimingOutcome(
        student_s=statistics.median(student_means),
        baseline_s=statistics.median(baseline_means),
        size=dict(first.sizes),
        repeats=spec.min_repeats,
        flagged=flagged,
    )


def sizes_text(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sizes.items())
