"""The example notebooks graded end to end with the real worker, checked status by status and
against golden JSON and Markdown (timing-dependent fields masked).

Regenerate the golden files after an intended change with: MATGRADE_UPDATE_GOLDEN=1 pytest tests/test_examples.py
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.models import GradeResult
from grader.report import feedback_markdown, result_json

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

GOLDEN = Path(__file__).parent / "golden"
Grade = Callable[[str], GradeResult]

EXPECTED_STATUSES = {
    "seed_homework.ipynb": {
        "p1_grad_u": "passed", "p1_grad_v": "passed", "p1_logistic_grad": "missing",
        "p1_logistic_hessian": "missing", "p1_chain_grad": "missing",
        "p2_softmax_jacobian": "partial", "p2_grad_eigsum": "passed", "p2_grad_eigprod": "passed",
    },
    "good.ipynb": {
        "p1_grad_u": "passed", "p1_grad_v": "passed", "p1_logistic_grad": "passed",
        "p1_logistic_hessian": "passed", "p1_chain_grad": "passed",
        "p2_softmax_jacobian": "passed", "p2_grad_eigsum": "passed", "p2_grad_eigprod": "passed",
    },
    "mistakes.ipynb": {
        "p1_grad_u": "wrong", "p1_grad_v": "error", "p1_logistic_grad": "wrong",
        "p1_logistic_hessian": "passed", "p1_chain_grad": "missing",
        "p2_softmax_jacobian": "wrong", "p2_grad_eigsum": "wrong", "p2_grad_eigprod": "wrong",
    },
    "crashes.ipynb": {
        "p1_grad_u": "error", "p1_grad_v": "error", "p1_logistic_grad": "missing",
        "p1_logistic_hessian": "missing", "p1_chain_grad": "missing",
        "p2_softmax_jacobian": "missing", "p2_grad_eigsum": "timeout", "p2_grad_eigprod": "passed",
    },
}  # fmt: skip


@pytest.mark.parametrize("notebook", sorted(EXPECTED_STATUSES))
def test_statuses(graded: Grade, notebook: str) -> None:
    result = graded(notebook)
    assert result.status == "graded"
    assert {p.id: p.status for p in result.problems} == EXPECTED_STATUSES[notebook]


def test_seed_acceptance(graded: Grade) -> None:
    problems = {p.id: p for p in graded("seed_homework.ipynb").problems}
    for problem_id in ("p1_grad_u", "p1_grad_v", "p2_grad_eigsum", "p2_grad_eigprod"):
        assert problems[problem_id].correct
    softmax = problems["p2_softmax_jacobian"]
    assert [(c.family, c.passed) for c in softmax.cases] == [("random", True)] * 3 + [
        ("large_inputs", False)
    ] * 2
    assert softmax.function == "jacobi_f_2"
    assert softmax.timing is not None and softmax.timing.ratio > 50
    assert softmax.speed_score == 0


def test_vectorised_seed_answers_earn_full_speed_points(graded: Grade) -> None:
    problems = graded("seed_homework.ipynb").problems
    vectorised = [p for p in problems if p.id in ("p1_grad_u", "p1_grad_v", "p2_grad_eigprod")]
    assert [(p.id, p.speed_score) for p in vectorised] == [(p.id, 0.5) for p in vectorised]


@pytest.mark.parametrize(
    ("problem_id", "fragment"),
    [
        ("p1_logistic_grad", "exactly -1 times the correct one"),
        ("p2_grad_eigprod", "is the transpose of the correct one"),
        ("p2_grad_eigsum", "wrong shape: expected (6, 6), got (6)"),
        ("p2_softmax_jacobian", "the result has dtype float32: compute in float64"),
        ("p1_grad_v", "TypeError: add got incompatible shapes for broadcasting"),
    ],
)
def test_mistakes_are_explained(graded: Grade, problem_id: str, fragment: str) -> None:
    problem = next(p for p in graded("mistakes.ipynb").problems if p.id == problem_id)
    assert any(fragment in line for line in problem.feedback), problem.feedback


def test_renamed_function_found_by_behaviour(graded: Grade) -> None:
    problem = next(p for p in graded("mistakes.ipynb").problems if p.id == "p1_logistic_hessian")
    assert (problem.function, problem.matched_by) == ("my_second_derivative", "behaviour")


def test_broken_cells_are_reported_and_do_not_hide_other_functions(graded: Grade) -> None:
    notes = [(n.cell, n.kind) for n in graded("mistakes.ipynb").extraction]
    assert notes == [(5, "syntax_error"), (1, "import_error")]


def test_crash_messages(graded: Grade) -> None:
    problems = {p.id: p for p in graded("crashes.ipynb").problems}
    assert "exited with code 3" in problems["p1_grad_u"].cases[0].message
    assert problems["p1_grad_v"].cases[0].message.startswith("called sys.exit('giving up')")
    assert "did not finish within 4 s" in problems["p2_grad_eigsum"].cases[0].message


def test_invalid_notebook(graded: Grade) -> None:
    result = graded("not_a_notebook.ipynb")
    assert (result.status, result.total, result.problems) == ("invalid", 0, [])
    assert result.errors[0].startswith("not a Jupyter notebook: not valid JSON (line 1")


NUMBER = re.compile(r"(?<![\w.])\d+(\.\d+)?(e[+-]?\d+)?x?(?!\w)")


def masked_json(result: GradeResult) -> dict:  # type: ignore[type-arg]
    """The result with everything that depends on timing or the machine replaced by markers."""
    data = json.loads(result_json(result))
    data.update(elapsed_s="<masked>", submission=Path(data["submission"]).name, total="<masked>")
    data.update(sandbox="<depends on the machine>", rubric_sha256="<depends on the checkout>")
    for problem in data["problems"]:
        problem.update(score="<masked>", speed_score="<masked>")
        if problem["timing"] is not None:
            problem["timing"] = "<timed>"
        problem["feedback"] = [_mask_text(line) for line in problem["feedback"]]
        for case in problem["cases"]:
            case["rel_error"] = None if case["rel_error"] is None else "<float>"
            case["message"] = _mask_text(case["message"])
    return data  # type: ignore[no-any-return]


def masked_markdown(result: GradeResult) -> str:
    return "\n".join(_mask_line(line) for line in feedback_markdown(result).splitlines()) + "\n"


def _mask_text(text: str) -> str:
    return "<speed line>" if text.startswith("Speed at") else NUMBER.sub("<n>", text)


def _mask_line(line: str) -> str:
    if line.startswith("- Speed at"):
        return "- <speed line>"
    if line.startswith(("|", "**", "- ")):
        return NUMBER.sub("<n>", line)
    return line


@pytest.mark.parametrize("notebook", [*sorted(EXPECTED_STATUSES), "not_a_notebook.ipynb"])
def test_golden_outputs(graded: Grade, notebook: str) -> None:
    result = graded(notebook)
    stem = Path(notebook).stem
    actual_json = json.dumps(masked_json(result), indent=2, sort_keys=True) + "\n"
    actual_md = masked_markdown(result)
    if os.environ.get("MATGRADE_UPDATE_GOLDEN"):
        (GOLDEN / f"{stem}.json").write_text(actual_json)
        (GOLDEN / f"{stem}.md").write_text(actual_md)
    assert actual_json == (GOLDEN / f"{stem}.json").read_text()
    assert actual_md == (GOLDEN / f"{stem}.md").read_text()
