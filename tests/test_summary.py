"""Class summaries from results alone: figures that describe the class."""

from __future__ import annotations

from grader.models import GradeResult
from grader.report import summary_markdown


def _graded(student: str, total: float) -> GradeResult:
    return GradeResult(
        grader_version="test", submission=f"{student}.ipynb", student=student, assignment="hw2",
        status="graded", total=total, max_total=12,
    )  # fmt: skip


def test_the_class_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    results = [
        _graded(name, total) for name, total in zip("abcd", [1.5, 1.5, 6.7, 12], strict=True)
    ]
    assert "Median total 4.1 of 12." in summary_markdown(results)
