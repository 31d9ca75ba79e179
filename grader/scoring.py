"""Pure scoring: rubric + measurements -> ProblemResult. No I/O, no JAX, no processes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from grader.assignment import Problem
from grader.compare import diagnosis_hint
from grader.measurement import CaseOutcome, ProblemMeasurement, TimingOutcome
from grader.models import CaseResult, ProblemResult, ProblemStatus, Timing
from grader.rubric import ProblemRubric, SpeedCurve
from grader.written.check import WrittenVerdict
from grader.written.verdict import written_answer, written_feedback


def speed_fraction(ratio: float, curve: SpeedCurve) -> float:
    """1 at or below full_at, 0 at or above zero_at, linear in log(ratio) between."""
    if ratio <= curve.full_at:
        return 1.0
    if ratio >= curve.zero_at:
        return 0.0
    span = math.log(curve.zero_at) - math.log(curve.full_at)
    return (math.log(curve.zero_at) - math.log(ratio)) / span


def correctness_fraction(rubric: ProblemRubric, cases: Sequence[CaseOutcome]) -> float:
    total_weight = sum(family.weight for family in rubric.cases)
    if total_weight == 0:
        return 0.0
    earned = 0.0
    for family in rubric.cases:
        members = [case for case in cases if case.family == family.name]
        if members:
            earned += family.weight * sum(case.passed for case in members) / len(members)
    return earned / total_weight


def status_of(measurement: ProblemMeasurement) -> ProblemStatus:
    cases = measurement.cases
    if measurement.unreached:
        return "timeout"
    if measurement.function is None:
        return "missing"
    if measurement.forbidden:
        return "forbidden"
    if any(case.failure and case.failure.kind == "timeout" for case in cases):
        return "timeout"
    passed = sum(case.passed for case in cases)
    if cases and passed == len(cases):
        return "passed"
    if passed:
        return "partial"
    if cases and all(case.failure is not None for case in cases):
        return "error"
    return "wrong"


def score_problem(
    rubric: ProblemRubric,
    measurement: ProblemMeasurement,
    problem: Problem,
    written: WrittenVerdict | None = None,
    cell: int | None = None,
) -> ProblemResult:
    """The problem's result; the written formula's verdict, when checked, adds its block, its
    points and a feedback line."""
    status = status_of(measurement)
    correct = status == "passed"
    # A forbidden answer's cases may have run (autodiff seen as it ran): they earn nothing.
    earned = 0.0 if status == "forbidden" else correctness_fraction(rubric, measurement.cases)
    correctness = rubric.points.correctness * earned
    timing = _timing_model(measurement.timing)
    speed = 0.0
    if correct and timing is not None and not timing.flagged:
        speed = rubric.points.speed * speed_fraction(timing.ratio, rubric.speed)
    feedback = feedback_for(rubric, measurement, status, timing, problem)
    answer = None
    if written is not None and rubric.written.check:
        answer = written_answer(written, rubric.written)
        feedback += written_feedback(answer, status)
    return ProblemResult(
        id=measurement.problem_id,
        title=problem.title,
        function=measurement.function,
        matched_by=measurement.matched_by,
        status=status,
        correct=correct,
        score=round(correctness + speed + (answer.score if answer else 0.0), 4),
        max_score=rubric.max_score(),
        correctness_score=round(correctness, 4),
        speed_score=round(speed, 4),
        cases=[_case_model(case) for case in measurement.cases],
        timing=timing,
        feedback=feedback,
        output=measurement.output,
        cell=cell,
        written=answer,
    )


def _timing_model(timing: TimingOutcome | None) -> Timing | None:
    if timing is None or timing.baseline_s <= 0:
        return None
    return Timing(
        student_s=timing.student_s,
        baseline_s=timing.baseline_s,
        ratio=timing.ratio,
        size=dict(timing.size),
        repeats=timing.repeats,
        discarded=timing.discarded,
        flagged=timing.flagged,
        attempts=timing.attempts,
        review=timing.review,
    )


def _case_model(case: CaseOutcome) -> CaseResult:
    comparison = case.comparison
    message = case.failure.message if case.failure else (comparison.message if comparison else "")
    if case.failure and case.failure.location:
        message += f" ({case.failure.location})"
    return CaseResult(
        family=case.family,
        shape=case.shape,
        rel_error=comparison.rel_error if comparison else None,
        passed=case.passed,
        message=message,
    )


def feedback_for(
    rubric: ProblemRubric,
    measurement: ProblemMeasurement,
    status: ProblemStatus,
    timing: Timing | None,
    problem: Problem,
) -> list[str]:
    if measurement.unreached:
        return [f"Not graded: {measurement.unreached}."]
    if status == "missing":
        return _missing_feedback(rubric, measurement)

    if status == "forbidden":
        return [
            f"Uses automatic differentiation: {measurement.forbidden}. This problem asks for "
            "the derived formula implemented by hand; autodiff is what it is compared with."
        ]
    lines = _failure_feedback(measurement, problem)
    lines += [
        CROSS_CASE_HINTS[name].format(**details)
        for name, details in cross_case(rubric, measurement.cases)
    ]
    if status == "passed":
        lines.insert(0, "Correct on every hidden case.")
        lines += _speed_feedback(rubric, timing, measurement.timing_note)
    return lines


def _missing_feedback(rubric: ProblemRubric, measurement: ProblemMeasurement) -> list[str]:
    if measurement.unparsed:
        return [f"Not graded: {measurement.unparsed}."]
    lines = [f"No function found. Expected one named {' or '.join(map(repr, rubric.names))}."]
    if measurement.tried:
        lines.append("Also tried by behaviour, none matched: " + ", ".join(measurement.tried) + ".")
    else:
        lines.append("No other function in the notebook takes the right number of arguments.")
    return lines


def _failure_feedback(measurement: ProblemMeasurement, problem: Problem) -> list[str]:
    hints = problem.hints
    lines: list[str] = []
    families = list(dict.fromkeys(case.family for case in measurement.cases))
    passing = {f for f in families if all(c.passed for c in measurement.cases if c.family == f)}
    for family in families:
        failing = [c for c in measurement.cases if c.family == family and not c.passed]
        if not failing:
            continue
        total = sum(1 for c in measurement.cases if c.family == family)
        first = _case_model(failing[0]).message
        lines.append(f"{len(failing)} of {total} '{family}' cases failed: {first}")
        # A family's hint explains what sets it apart, so it fits when only that family fails.
        if family in hints and passing:
            lines.append(hints[family])
        for diagnosis in _diagnoses(failing):
            if diagnosis.startswith("mistake:"):
                lines.append(problem.mistake_hint(diagnosis.removeprefix("mistake:")))
            else:
                lines.append(diagnosis_hint(diagnosis))
    return [line for line in dict.fromkeys(lines) if line]


CROSS_CASE_HINTS = {
    "only_symmetric": "Right on symmetric inputs only ({passed}), wrong on general ones: a step "
    "of your derivation assumes symmetry (A = A^T), e.g. writing 2AX for (A + A^T)X.",
    "only_square": "Right on square inputs only ({passed}), wrong on non-square ones ({failed}): "
    "check which dimension each transpose and product runs over.",
    "only_some_sizes": "Right at some sizes ({passed}) but not at others ({failed}): look for "
    "hard-coded shapes, sizes or loop bounds.",
}


def cross_case(
    rubric: ProblemRubric, cases: Sequence[CaseOutcome]
) -> list[tuple[str, dict[str, str]]]:
    """Mistakes visible only across cases: which inputs pass and which fail."""
    compared = [case for case in cases if case.comparison is not None and case.sizes]
    passing = [case for case in compared if case.passed]
    failing = [case for case in compared if not case.passed]
    if not passing or not failing or any(case.failure for case in cases):
        return []
    details = {"passed": _sizes_text(passing), "failed": _sizes_text(failing)}
    symmetric = {family.name for family in rubric.cases if family.symmetric}
    if (
        symmetric
        and all(c.family in symmetric for c in passing)
        and not any(c.family in symmetric for c in failing)
    ):
        return [("only_symmetric", details)]
    if all(_square(c) for c in passing) and not any(_square(c) for c in failing):
        return [("only_square", details)]
    same_family = any(c.family == f.family for c in passing for f in failing)
    if same_family and {_size_key(c) for c in passing}.isdisjoint(map(_size_key, failing)):
        return [("only_some_sizes", details)]
    return []


def _square(case: CaseOutcome) -> bool:
    return len(case.sizes) >= 2 and len(set(case.sizes.values())) == 1


def _size_key(case: CaseOutcome) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(case.sizes.items()))


def _sizes_text(cases: Sequence[CaseOutcome]) -> str:
    keys = list(dict.fromkeys(_size_key(case) for case in cases))
    return "; ".join(", ".join(f"{k}={v}" for k, v in key) for key in keys)


def _diagnoses(cases: Sequence[CaseOutcome]) -> list[str]:
    found = [d for case in cases if case.comparison for d in case.comparison.diagnoses]
    return list(dict.fromkeys(found))


# Past this multiple of full_at an answer is slow the way Python loops are slow; below it, a
# vectorised answer is only doing more work than it needs.
LOOP_LIKE = 3.0


def _speed_feedback(rubric: ProblemRubric, timing: Timing | None, note: str) -> list[str]:
    if timing is None:
        return [note] if note else []
    if timing.flagged:
        return [f"No speed points: {timing.flagged}."]
    size = ", ".join(f"{k}={v}" for k, v in timing.size.items())
    line = (
        f"Speed at {size}: {timing.student_s * 1e3:.3g} ms per call, "
        f"{timing.ratio:.3g}x the time of jax.jit(autodiff) ({timing.baseline_s * 1e3:.3g} ms)."
    )
    curve = rubric.speed
    if timing.ratio > LOOP_LIKE * curve.full_at:
        line += (
            f" Full speed points need a ratio of at most {curve.full_at:g}: avoid Python loops "
            "over entries and build the result with whole-array operations."
        )
    elif timing.ratio > curve.full_at:
        line += (
            f" Full speed points need a ratio of at most {curve.full_at:g}: fewer, larger array "
            "operations (one product instead of several, no explicit diag or outer matrices "
            "where broadcasting does) bring it down."
        )
    if timing.review:
        line += f" Note: {timing.review}."
    return [line]
