"""Judging a written formula on hidden cases: agreement, the diagnoses and "not checked".
Pure: numpy cases and answers, no JAX."""

from __future__ import annotations

import numpy as np
import pytest

from grader.assignment import Arg, Problem
from grader.inputs import Case
from grader.rubric import WrittenRubric
from grader.written.check import WrittenCase, WrittenVerdict, judge
from grader.written.find import Candidate, Located, Statement
from grader.written.verdict import written_answer, written_feedback

TRACE_FORM = Problem(
    id="trace_form_grad",
    title="",
    args=(Arg("X", ("n", "k")), Arg("A", ("n", "n"))),
    objective=lambda X, A: None,
    closed_form=lambda X, A: None,
)


def cases() -> list[WrittenCase]:
    rng = np.random.default_rng(3)
    found = []
    for index, (family, n, k) in enumerate(
        [("general", 5, 3), ("general", 7, 2), ("symmetric_A", 6, 3)]
    ):
        X, A = rng.normal(size=(n, k)), rng.normal(size=(n, n))
        if family == "symmetric_A":
            A = (A + A.T) / 2
        case = Case(family, index, {"n": n, "k": k}, (X, A))
        found.append(WrittenCase(case, (A + A.T) @ X))
    return found


def judged(formula: str) -> WrittenVerdict:
    candidate = Candidate(Statement(0, (r"\nabla f(X)", formula), boxed=False), formula, True)
    return judge(Located((candidate,), {}), TRACE_FORM, WrittenRubric(), cases())


# (id, formula, status, diagnosis, detail)
VERDICTS = [
    ("right", r"(A + A^T)X", "agrees", (), ""),
    ("symmetric only", r"2AX", "disagrees", ("only_families:symmetric_A",),
     "it agrees on the 'symmetric_A' inputs but not on the 'general' ones"),
    ("transposed symbol", r"(A + A^T)X^T", "disagrees", ("shapes", "symbol_transposed:X"),
     "it has Xᵀ where the reference has X"),
    ("sign", r"-(A + A^\top)X", "disagrees", ("factor:-1",), "its sign is flipped"),
    ("half", r"\frac{1}{2}(A + A^T)X", "disagrees", ("factor:0.5",),
     "it is exactly 1/2 times the correct result"),
    ("extra term", r"AX + A^T X + X", "disagrees", ("extra_term",), "its term X should not be there"),
    ("term off by a factor", r"2AX + A^T X", "disagrees", ("term_factor:2",),
     "its term 2AX is 2 times what it should be"),
    ("unbound", r"(A + A^T) Q", "not_checked", (), "Q is not one of this problem's symbols"),
    ("unreadable", r"(A + A^T", "not_checked", (), "it cannot be read: ends too early"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("formula", "status", "diagnosis", "detail"),
    [row[1:] for row in VERDICTS],
    ids=[row[0] for row in VERDICTS],
)
def test_a_formula_is_judged_and_diagnosed(
    formula: str, status: str, diagnosis: tuple[str, ...], detail: str
) -> None:
    verdict = judged(formula)
    assert (verdict.status, verdict.diagnosis) == (status, diagnosis)
    assert verdict.detail.startswith(detail)


def test_an_overflowing_case_is_left_out_not_held_against_the_formula() -> None:
    found = cases()
    big = WrittenCase(found[0].case, found[0].expected * np.inf)
    candidate = Candidate(Statement(0, ("g", r"(A + A^T)X"), boxed=False), r"(A + A^T)X", True)
    verdict = judge(Located((candidate,), {}), TRACE_FORM, WrittenRubric(), [*found, big])
    assert verdict.status == "agrees"


@pytest.mark.parametrize(
    ("status", "code", "points", "line"),
    [
        ("agrees", "passed", 0.0, "Your written formula (2U, cell 4) agrees with the reference."),
        ("agrees", "missing", 1.0, "Your written formula (2U, cell 4) is right, but no function "
         "implementing it was found."),
        ("agrees", "wrong", 0.0, "Your written formula (2U, cell 4) is right; your code is not: "
         "make it compute what the formula says."),
        ("disagrees", "passed", 0.0, "Your code is right but your written formula (2U, cell 4) is "
         "not: its sign is flipped."),
        ("disagrees", "wrong", 0.0, "Your written formula (2U, cell 4) disagrees with the "
         "reference too: its sign is flipped."),
        ("not_checked", "passed", 0.5, "Your written formula (2U, cell 4) was not checked "
         "automatically: its sign is flipped. Its 0.5 points await your instructor's review."),
    ],
    ids=["agrees", "code missing", "code wrong", "formula wrong", "both wrong", "review"],
)  # fmt: skip
def test_the_feedback_line_relates_the_formula_to_the_code(
    status: str, code: str, points: float, line: str
) -> None:
    verdict = WrittenVerdict(status, "2U", 3, detail="its sign is flipped.")  # type: ignore[arg-type]
    answer = written_answer(verdict, WrittenRubric(points=points))
    assert written_feedback(answer, code) == [line]  # type: ignore[arg-type]
    assert answer.score == (points if status == "agrees" else 0.0)
    assert answer.review == (status == "not_checked" and points > 0)


def test_a_formula_not_found_is_mentioned_only_when_it_has_points() -> None:
    assert (
        written_feedback(written_answer(WrittenVerdict("not_found"), WrittenRubric()), "passed")
        == []
    )
    with_points = written_answer(WrittenVerdict("not_found"), WrittenRubric(points=1))
    assert written_feedback(with_points, "passed")[0].startswith("No written final formula")
