"""Instructor tools: check a rubric against its own reference, and explain a disputed grade.

check_rubric runs in the grader's process only (the reference is trusted code): every closed
form must agree with autodiff on every hidden case within the rubric's tolerance, known wrong
variants (a scaled answer, a float32 answer, the reference's own mistakes) must fail it, and the
closed form, run eagerly as students' code runs, must earn the full speed points.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from grader.assignment import Problem, load_assignment
from grader.baseline import ReferenceSide, configure_jax
from grader.compare import compare, relative_error
from grader.errors import RubricError, UsageError
from grader.inputs import make_case, make_timing_case
from grader.rubric import ProblemRubric, load_rubric
from grader.scoring import speed_fraction

if TYPE_CHECKING:
    from grader.pipeline import GradeOptions

CHECK_SECRET = b"matgrade-check-rubric"
TIMING_RUNS = 5
CALLS_PER_RUN = 20  # on each side; a run's ratio is of the fastest calls, as in a grading round
FLAKY_SPREAD = 2.5  # max/min of the repeated ratios


@dataclass(frozen=True)
class Finding:
    problem: str
    ok: bool
    message: str
    warning: bool = False  # reported, but not a reason to exit non-zero

    def line(self) -> str:
        label = "FAIL" if not self.ok else "warn" if self.warning else "ok  "
        return f"{label} {self.problem}: {self.message}"


def check_rubric(path: Path, device: str = "cpu") -> list[Finding]:
    from grader.pipeline import check_consistency

    rubric = load_rubric(path)
    if not rubric.reference_path().is_file():
        raise RubricError(path, f"reference: no such file: {rubric.reference_path()}")
    configure_jax(device)
    assignment = load_assignment(rubric.reference_path())
    check_consistency(rubric, assignment)
    reference = ReferenceSide()
    findings = []
    for problem_id, problem_rubric in rubric.rubric.problems.items():
        problem = assignment.problems[problem_id]
        findings += _check_problem(reference, problem, problem_rubric)
    return findings


def _check_problem(
    reference: ReferenceSide, problem: Problem, rubric: ProblemRubric
) -> list[Finding]:
    assert rubric.tolerance is not None
    rtol, atol = rubric.tolerance.rtol, rubric.tolerance.atol
    worst, wrong_accepted = 0.0, []
    for family in rubric.cases:
        for index in range(family.count):
            case = make_case(CHECK_SECRET, "check", problem, family, index)
            closed = reference.expected(problem, case.args)
            autodiff = reference.autodiff(problem, case.args)
            error = relative_error(closed, autodiff)
            worst = max(worst, error)
            if error > rtol:
                return [
                    Finding(
                        problem.id,
                        False,
                        f"the closed form differs from autodiff by {error:.1e} on a "
                        f"'{family.name}' case ({_sizes(case.sizes)}), above rtol {rtol:.0e}: "
                        "the tolerance is too tight for this reference (or the closed form "
                        "is wrong)",
                    )
                ]
            wrong_accepted += _accepted_wrong_answers(
                reference, problem, case.args, closed, rtol, atol
            )
    findings = [Finding(problem.id, True, f"closed form matches autodiff (max error {worst:.1e})")]
    if wrong_accepted:
        names = ", ".join(dict.fromkeys(wrong_accepted))
        findings.append(Finding(problem.id, False, f"wrong answers pass the tolerance: {names}"))
    else:
        findings.append(
            Finding(problem.id, True, "wrong variants fail (scaled, float32, known mistakes)")
        )
    if rubric.timing is not None:
        findings.append(_check_speed(reference, problem, rubric))
    return findings


def _accepted_wrong_answers(
    reference: ReferenceSide,
    problem: Problem,
    args: tuple[object, ...],
    closed: np.ndarray,
    rtol: float,
    atol: float,
) -> list[str]:
    with np.errstate(over="ignore"):  # entries beyond float32's range become inf, and fail
        float32 = closed.astype(np.float32)
    variants: dict[str, np.ndarray] = {"closed form x 1.001": closed * 1.001, "float32": float32}
    variants.update(reference.mistake_answers(problem, args))  # type: ignore[arg-type]
    return [
        name
        for name, answer in variants.items()
        if not np.allclose(answer, closed, rtol=0, atol=0)
        and compare(answer, closed, rtol, atol).passed
    ]


def _check_speed(reference: ReferenceSide, problem: Problem, rubric: ProblemRubric) -> Finding:
    """The closed form run op by op, as an un-jitted student answer runs, against the baseline."""
    assert rubric.timing is not None and rubric.speed is not None
    case = make_timing_case(CHECK_SECRET, "check", problem, rubric.timing.sizes, 0)
    reference.evaluate_eagerly(problem, case.args)
    reference.time_baseline(problem, case.args, 2)
    ratios = _speed_ratios(reference, problem, case.args)
    ratio = statistics.median(ratios)
    earned = speed_fraction(ratio, rubric.speed)
    if earned < 1:  # a noisy moment must not fail a rubric: the verdict needs two bad runs
        ratios = min(ratios, _speed_ratios(reference, problem, case.args), key=statistics.median)
        ratio = statistics.median(ratios)
        earned = speed_fraction(ratio, rubric.speed)
    spread = max(ratios) / min(ratios)
    text = (
        f"the reference's own speed ratio is {ratio:.3g}x at {_sizes(rubric.timing.sizes)} "
        f"({min(ratios):.3g}-{max(ratios):.3g} over {TIMING_RUNS} runs), earning "
        f"{earned:.0%} of the speed points"
    )
    if rubric.points.speed == 0:
        return Finding(problem.id, True, text.split(", earning")[0] + " (reported, not scored)")
    if earned < 1:
        return Finding(problem.id, False, text + f": raise speed.full_at above {ratio:.3g}")
    if spread > FLAKY_SPREAD:
        flaky = ": flaky (a larger timing size steadies it)"
        return Finding(problem.id, True, text + flaky, warning=True)
    return Finding(problem.id, True, text)


def _speed_ratios(reference: ReferenceSide, problem: Problem, args: Any) -> list[float]:
    """Eager closed form over jitted baseline, the fastest call of each of TIMING_RUNS runs,
    as the grader measures students."""
    return [
        min(reference.time_eagerly(problem, args, CALLS_PER_RUN))
        / min(reference.time_baseline(problem, args, CALLS_PER_RUN).times)
        for _ in range(TIMING_RUNS)
    ]


def _sizes(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def explain(result_path: Path, options: GradeOptions | None) -> str:
    """The failing cases of a result; with `options` (--reveal) also their hidden inputs, the
    student's output recomputed in a sandboxed worker, and the reference, side by side."""
    from grader.models import GradeResult

    try:
        result = GradeResult.model_validate_json(result_path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"{result_path}: not a matgrade result file") from error
    failing = [(p, i, c) for p in result.problems for i, c in enumerate(p.cases) if not c.passed]
    lines = [f"{result.student}: {result.total:g} / {result.max_total:g} ({result.submission})"]
    if not failing:
        return "\n".join([*lines, "No failing case."])
    if options is None:
        for problem, _, case in failing:
            lines.append(f"- {problem.id} [{case.family}] shape {case.shape}: {case.message}")
        lines.append("Run with --reveal to see the inputs, the output and the reference.")
        return "\n".join(lines)
    return "\n".join(lines + _reveal(result, failing, options))


def _reveal(result: Any, failing: list[Any], options: GradeOptions) -> list[str]:
    from grader.gate import Lane
    from grader.notebook import code_cells, extract, read_notebook
    from grader.pipeline import Grader, WorkerSession, call_message, file_sha256, submission_key

    notebook = Path(result.submission)
    if file_sha256(notebook) != result.notebook_sha256:
        raise UsageError(f"{notebook}: not the notebook that was graded (its SHA-256 changed)")
    grader = Grader(options)
    key = submission_key(result.student, result.notebook_sha256)
    extraction = extract(code_cells(read_notebook(notebook)))
    session = WorkerSession(grader.worker_config, extraction, grader.control, Lane(cpu=None))
    lines: list[str] = []
    try:
        for problem_result, position, case_result in failing:
            problem = grader.assignment.problems[problem_result.id]
            rubric = grader.rubric.rubric.problems[problem_result.id]
            family = next(f for f in rubric.cases if f.name == case_result.family)
            index = position - sum(
                1 for c in problem_result.cases[:position] if c.family != family.name
            )
            case = make_case(options.secret.key, key, problem, family, index)
            header, arrays = call_message(problem_result.function or "", case.args, 4096)
            try:
                reply, out = session.request(header, arrays, 60)
                output = out[0] if reply.get("ok") and out else reply.get("message", "no result")
            except Exception as error:  # the student's code may hang or crash again
                output = f"{type(error).__name__}: {error}"
            lines += _side_by_side(
                problem, case, output, grader.reference.expected(problem, case.args)
            )
    finally:
        session.close()
    return lines


def _side_by_side(problem: Problem, case: Any, output: object, expected: np.ndarray) -> list[str]:
    def show(value: object) -> str:
        if isinstance(value, np.ndarray):
            return np.array2string(value, precision=6, threshold=64, max_line_width=100)
        return str(value)

    lines = ["", f"== {problem.id} [{case.family} #{case.index}] sizes {_sizes(case.sizes)}"]
    for arg, value in zip(problem.args, case.args, strict=True):
        lines.append(f"-- input {arg.name}:\n{show(value)}")
    lines.append(f"-- student's output:\n{show(output)}")
    lines.append(f"-- reference:\n{show(expected)}")
    return lines
