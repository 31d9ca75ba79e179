"""Speed measurement: rounds of student calls (in the worker) interleaved with rounds of the
jitted autodiff baseline (in the grader), each round on fresh inputs, medians of per-call means.

The worker is student territory: it can patch its clock, skip the work, or remember answers. So
every round gets fresh inputs and returns its last output, which must be correct; the parent's
clock around the round must agree with the times reported; the first call of a round (the only
one that cannot have seen these inputs before) must not be far slower than the repeats; and the
CPU used must fit the wall time. A round that fails any check flags the timing: no speed points.
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
# Reported time may fall below the parent's wall time by the transfer and dispatch costs of a
# round, measured with empty rounds; a worker could inflate those, so they count up to a cap.
REPORTED_SHARE = 0.8
REPORTED_SLACK_S = 0.0005
MAX_OVERHEAD_S = 0.002
# A first call this much slower than the repeats of the same inputs means remembered answers.
FIRST_CALL_FACTOR = 10.0
FIRST_CALL_SLACK_S = 0.0005
CPU_SLACK = 1.25


@dataclass(frozen=True)
class Round:
    """One round of student calls: what the worker reported and what the parent observed."""

    reported_s: list[float]
    wall_s: float
    cpu_s: float | None = None
    output_problem: str | None = None


StudentRound = Callable[[Case, int], Round]
BaselineRound = Callable[[Case, int], list[float]]


def calls_for(seconds_per_call: float, target_s: float) -> int:
    return max(1, min(MAX_CALLS, math.ceil(target_s / max(seconds_per_call, 1e-7))))


def integrity_problem(round_: Round, overhead_s: float, cores: int) -> str | None:
    """Why the parent does not believe this round's report, or None when it does."""
    if round_.output_problem:
        return f"the timed calls returned a wrong result ({round_.output_problem})"
    times = round_.reported_s
    if len(times) >= 3:
        repeats = statistics.median(times[1:])
        if times[0] > FIRST_CALL_FACTOR * repeats + FIRST_CALL_SLACK_S:
            return (
                f"the first call took {times[0] * 1e3:.3g} ms but repeats on the same inputs "
                f"{repeats * 1e3:.3g} ms (are results remembered?)"
            )
    reported = sum(times)
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
    overhead = min(MAX_OVERHEAD_S, *(student(first, 0).wall_s for _ in range(3)))
    once = student(first, 1)
    # The parent's clock bounds the calibration too: a patched clock must not buy 1000 calls.
    student_once = max(min(once.reported_s), once.wall_s - overhead)
    baseline_once = min(baseline(first, 2))
    calls = calls_for(student_once, spec.budget_s / spec.min_repeats)
    baseline_calls = calls_for(baseline_once, BASELINE_ROUND_S)
    student_means, baseline_means = [], []
    flagged = None
    for index in range(1, spec.min_repeats + 1):
        case = case_for_round(index)
        round_ = student(case, calls)
        flagged = flagged or integrity_problem(round_, overhead, cores)
        student_means.append(statistics.median(round_.reported_s))
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
