"""Class summaries from results alone: figures that describe the class."""

from __future__ import annotations

from grader.models import GradeResult, ProblemResult, Timing, WrittenAnswer
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


def _with_problem(student: str, problem: ProblemResult) -> GradeResult:
    return _graded(student, problem.score).model_copy(update={"problems": [problem]})


def test_timings_and_written_answers_to_review_are_listed_for_the_instructor() -> None:
    timing = Timing(student_s=2e-3, baseline_s=1e-4, ratio=20.0, attempts=3, review="disturbed")
    written = WrittenAnswer(
        status="not_checked", detail="it is written entry by entry", max_score=0.5, review=True
    )
    results = [
        _with_problem("ann", ProblemResult(id="p1", function="f", status="passed", correct=True,
                                           score=1, max_score=1.5, speed_score=0.4, timing=timing)),
        _with_problem("bob", ProblemResult(id="p1", function="f", status="passed", correct=True,
                                           score=1, max_score=1.5, written=written)),
    ]  # fmt: skip
    lines = summary_markdown(results).splitlines()
    timings = lines.index(
        "Timings to review (disturbed in every attempt; the best attempt was scored):"
    )
    assert lines[timings + 2 : timings + 5] == [
        "| Student | Problem | Ratio | Attempts | Speed points |",
        "|---|---|---|---|---|",
        "| ann | p1 | 20x | 3 | 0.4 |",
    ]
    review = lines.index("Written answers to grade by hand (their points await review):")
    assert lines[review + 2 : review + 5] == [
        "| Student | Problem | Points | Why not checked |",
        "|---|---|---|---|",
        "| bob | p1 | 0.5 | it is written entry by entry |",
    ]
    assert "| p1 | 2/2 | 1.00 | passed | 0/1 found |" in lines
