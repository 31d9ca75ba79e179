"""A written answer's verdict as the student reads it: the result block, its points and the
feedback line that relates it to the code ("your formula is right; your code is not")."""

from __future__ import annotations

from grader.models import ProblemStatus, WrittenAnswer
from grader.rubric import WrittenRubric
from grader.written.check import WrittenVerdict

SHOWN_IN_FEEDBACK = 80


def written_answer(verdict: WrittenVerdict, rubric: WrittenRubric) -> WrittenAnswer:
    points = rubric.points
    return WrittenAnswer(
        status=verdict.status,
        formula=verdict.formula,
        cell=verdict.cell,
        rel_error=verdict.rel_error,
        diagnosis=list(verdict.diagnosis),
        detail=verdict.detail,
        score=points if verdict.status == "agrees" else 0.0,
        max_score=points,
        review=verdict.status == "not_checked" and points > 0,
    )


def written_feedback(answer: WrittenAnswer, code: ProblemStatus) -> list[str]:
    """One line, or none for a formula not found when it earns no points."""
    where = _where(answer)
    if answer.status == "agrees":
        if code == "passed":
            return [f"Your written formula{where} agrees with the reference."]
        if code == "missing":
            return [f"Your written formula{where} is right, but no function implementing it "
                    "was found."]  # fmt: skip
        return [f"Your written formula{where} is right; your code is not: make it compute what "
                "the formula says."]  # fmt: skip
    if answer.status == "disagrees":
        detail = answer.detail.rstrip(".") or "it gives other values than the reference"
        if code == "passed":
            return [f"Your code is right but your written formula{where} is not: {detail}."]
        return [f"Your written formula{where} disagrees with the reference too: {detail}."]
    review = (
        f" Its {answer.max_score:g} points await your instructor's review." if answer.review else ""
    )
    if answer.status == "not_checked":
        why = answer.detail.rstrip(".")
        return [f"Your written formula{where} was not checked automatically: {why}.{review}"]
    if answer.max_score > 0:
        return ["No written final formula was found for this problem: write it in Markdown next "
                "to your function, for example $\\nabla_U J = ...$."]  # fmt: skip
    return []


def _where(answer: WrittenAnswer) -> str:
    formula = answer.formula
    if len(formula) > SHOWN_IN_FEEDBACK:
        formula = formula[: SHOWN_IN_FEEDBACK - 3] + "..."
    cell = f", cell {answer.cell + 1}" if answer.cell is not None else ""
    return f" ({formula}{cell})" if formula else ""
