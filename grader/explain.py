"""Explain a disputed grade: the failing cases, and with --reveal their hidden inputs, the
student's output recomputed in a sandboxed worker, and the reference, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from grader.assignment import Problem
from grader.digests import submission_key
from grader.errors import UsageError
from grader.inputs import make_case, secret_fingerprint
from grader.lanes import Lane
from grader.messages import CallReply, CallRequest
from grader.models import GradeResult
from grader.notebook import code_cells, extract, read_notebook, submission_sha256
from grader.pipeline import GradeOptions, Grader
from grader.report.text import one_line
from grader.session import WorkerSession
from grader.speed import sizes_text


def explain(result_path: Path, options: GradeOptions | None) -> str:
    """The failing cases of a result; with `options` (--reveal) also their hidden inputs, the
    student's output recomputed in a sandboxed worker, and the reference, side by side."""
    try:
        result = GradeResult.model_validate_json(result_path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"{result_path}: not a matgrade result file") from error
    failing = [(p, i, c) for p in result.problems for i, c in enumerate(p.cases) if not c.passed]
    header = f"{result.student}: {result.total:g} / {result.max_total:g} ({result.submission})"
    lines = [one_line(header), *_points_lost_without_a_case(result)]
    if not failing:
        return "\n".join([*lines, "No failing case."])
    if options is None:
        for problem, _, case in failing:
            message = one_line(case.message)
            lines.append(f"- {problem.id} [{case.family}] shape {case.shape}: {message}")
        lines.append("Run with --reveal to see the inputs, the output and the reference.")
        return "\n".join(lines)
    return "\n".join(lines + _reveal(result, result_path, failing, options))


def _points_lost_without_a_case(result: GradeResult) -> list[str]:
    """Problems that lost points with no case to show: not found, forbidden, not reached,
    or right but slow."""
    return [
        one_line(
            f"- {p.id}: {p.status}, {p.score:g} / {p.max_score:g}"
            + (f": {p.feedback[0]}" if p.feedback else "")
        )
        for p in result.problems
        if p.score < p.max_score and all(case.passed for case in p.cases)
    ]


def _graded_notebook(result: GradeResult, result_path: Path) -> Path:
    """The notebook as recorded (relative to where matgrade ran), else found relative to the
    result file (matgrade-results/ sits next to where it ran), with the graded SHA-256."""
    recorded = Path(result.submission)
    places = [recorded, result_path.parent.parent / recorded, result_path.parent / recorded.name]
    for place in places:
        if submission_sha256(place) == result.notebook_sha256:
            return place
    tried = ", ".join(str(place) for place in dict.fromkeys(places))
    raise UsageError(f"the graded notebook was not found (or has changed since) at: {tried}")


def _reveal(
    result: GradeResult, result_path: Path, failing: list[Any], options: GradeOptions
) -> list[str]:
    if result.secret_fingerprint and secret_fingerprint(options.secret.key) != (
        result.secret_fingerprint
    ):
        raise UsageError(
            "--reveal needs the secret this result was graded with (MATGRADE_SECRET or "
            "--secret-file): the one given is another, so the inputs shown would not be the "
            "graded ones"
        )
    notebook = _graded_notebook(result, result_path)
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
            header, arrays = CallRequest(problem_result.function or "", case.args).frame()
            try:
                reply = CallReply.parse(*session.request(header, arrays, 60))
                output: object = reply.failure.message if reply.failure else reply.arrays[0]
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
        return one_line(str(value))

    lines = ["", f"== {problem.id} [{case.family} #{case.index}] sizes {sizes_text(case.sizes)}"]
    for arg, value in zip(problem.args, case.args, strict=True):
        lines.append(f"-- input {arg.name}:\n{show(value)}")
    lines.append(f"-- student's output:\n{show(output)}")
    lines.append(f"-- reference:\n{show(expected)}")
    return lines
