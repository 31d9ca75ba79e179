"""Scoring: statuses, partial credit per case family, and the speed curve."""

from __future__ import annotations

import pytest

from grader.assignment import Problem
from grader.compare import Comparison
from grader.measurement import CallFailure, CaseOutcome, ProblemMeasurement, TimingOutcome
from grader.models import GradeResult
from grader.report.summary import summary_markdown
from grader.rubric import CaseFamily, Points, ProblemRubric, SpeedCurve
from grader.scoring import score_problem, speed_fraction, status_of

CURVE = SpeedCurve(full_at=2, zero_at=32)
RUBRIC = ProblemRubric(
    names=["f"],
    points=Points(correctness=1.0, speed=0.5),
    cases=[
        CaseFamily(name="small", count=2, sizes=[{"n": 2}], weight=3),
        CaseFamily(name="large", count=1, sizes=[{"n": 2}], weight=1),
    ],
    speed=CURVE,
)
PROBLEM = Problem("p", "Title", (), objective=abs, closed_form=abs, hints={"large": "hint"})
OK = Comparison(1e-16, True)
BAD = Comparison(0.5, False, "relative error 5.00e-01 is above the tolerance 1e-10")


def case(
    family: str, comparison: Comparison | None = None, failure: str | None = None
) -> CaseOutcome:
    return CaseOutcome(family, [2], comparison, CallFailure(failure, "boom") if failure else None)


@pytest.mark.parametrize(
    ("ratio", "fraction"),
    [(0.5, 1.0), (2, 1.0), (8, 0.5), (32, 0.0), (1000, 0.0)],
)
def test_speed_fraction_is_log_linear(ratio: float, fraction: float) -> None:
    assert speed_fraction(ratio, CURVE) == pytest.approx(fraction)


STATUSES = [
    pytest.param([case("small", OK), case("small", OK), case("large", OK)], "passed", id="passed"),
    pytest.param(
        [case("small", OK), case("small", OK), case("large", BAD)], "partial", id="partial"
    ),
    pytest.param([case("small", BAD), case("small", BAD), case("large", BAD)], "wrong", id="wrong"),
    pytest.param([case("small", failure="exception")] * 3, "error", id="error"),
    pytest.param([case("small", OK), case("small", failure="timeout")], "timeout", id="timeout"),
    pytest.param([case("small", BAD), case("small", failure="exception")], "wrong", id="mixed"),
]


@pytest.mark.parametrize(("cases", "status"), STATUSES)
def test_status(cases: list[CaseOutcome], status: str) -> None:
    assert status_of(ProblemMeasurement("p", "f", "name", cases)) == status


def test_partial_credit_is_weighted_by_family() -> None:
    cases = [case("small", OK), case("small", BAD), case("large", OK)]
    result = score_problem(RUBRIC, ProblemMeasurement("p", "f", "name", cases), PROBLEM)
    assert result.correctness_score == pytest.approx(0.75 * 0.5 + 0.25)
    assert result.status == "partial" and not result.correct


def test_speed_points_only_when_correct() -> None:
    timing = TimingOutcome(student_s=8e-3, baseline_s=1e-3, size={"n": 2}, repeats=5)
    cases = [case("small", OK), case("small", OK), case("large", BAD)]
    wrong = score_problem(RUBRIC, ProblemMeasurement("p", "f", "name", cases, timing), PROBLEM)
    assert (
        wrong.speed_score == 0
        and wrong.timing is not None
        and wrong.timing.ratio == pytest.approx(8)
    )
    cases[2] = case("large", OK)
    right = score_problem(RUBRIC, ProblemMeasurement("p", "f", "name", cases, timing), PROBLEM)
    assert right.speed_score == pytest.approx(0.25) and right.score == pytest.approx(1.25)


def test_family_hint_shown_when_only_that_family_fails() -> None:
    cases = [case("small", OK), case("small", OK), case("large", BAD)]
    result = score_problem(RUBRIC, ProblemMeasurement("p", "f", "name", cases), PROBLEM)
    assert result.feedback == [
        "1 of 1 'large' cases failed: relative error 5.00e-01 is above the tolerance 1e-10",
        "hint",
    ]


def test_missing_lists_what_was_tried() -> None:
    result = score_problem(RUBRIC, ProblemMeasurement("p", tried=["g", "h"]), PROBLEM)
    assert result.status == "missing" and result.score == 0
    assert result.feedback == [
        "No function found. Expected one named 'f'.",
        "Also tried by behaviour, none matched: g, h.",
    ]


ALL_PASS = [case("small", OK), case("small", OK), case("large", OK)]


@pytest.mark.parametrize(
    ("flagged", "review", "speed", "feedback"),
    [
        pytest.param(None, None, 0.25, "8x the time of jax.jit(autodiff)", id="measured"),
        pytest.param(
            "a timed call returned a wrong result (x)", None, 0.0,
            "No speed points: a timed call returned a wrong result (x).", id="wrong-when-timed",
        ),
        # Noise never costs points: the best attempt is scored, and nobody is accused.
        pytest.param(
            None, "timing could not be confirmed; your instructor will review it", 0.25,
            "Note: timing could not be confirmed; your instructor will review it.", id="review",
        ),
    ],
)  # fmt: skip
def test_speed_feedback(
    flagged: str | None, review: str | None, speed: float, feedback: str
) -> None:
    timing = TimingOutcome(8e-3, 1e-3, {"n": 2}, 5, flagged=flagged, review=review)
    result = score_problem(RUBRIC, ProblemMeasurement("p", "f", "name", ALL_PASS, timing), PROBLEM)
    assert result.speed_score == pytest.approx(speed)
    assert feedback in result.feedback[-1]
    assert "patched" not in result.feedback[-1] and "not trusted" not in result.feedback[-1]


def test_the_class_summary_lists_timings_to_review() -> None:
    timing = TimingOutcome(8e-3, 1e-3, {"n": 2}, 5, attempts=3, review="could not be confirmed")
    reviewed = score_problem(
        RUBRIC, ProblemMeasurement("p", "f", "name", ALL_PASS, timing), PROBLEM
    )
    result = GradeResult(
        grader_version="0", submission="ada.ipynb", student="ada", assignment="hw", status="graded", total=1.25,
        max_total=1.5, problems=[reviewed],
    )  # fmt: skip
    text = summary_markdown([result, result.model_copy(update={"student": "bob", "problems": []})])
    assert "| ada | p | 8x | 3 | 0.25 |" in text and "| bob | p |" not in text


@pytest.mark.parametrize(
    ("ratio", "advice"),
    [
        pytest.param(1.5, None, id="full-points"),
        pytest.param(4.0, "fewer, larger array operations", id="vectorised-but-doing-more-work"),
        pytest.param(8.0, "avoid Python loops over entries", id="loop-like"),
    ],
)
def test_speed_advice_fits_how_slow_the_answer_is(ratio: float, advice: str | None) -> None:
    timing = TimingOutcome(ratio * 1e-3, 1e-3, {"n": 2}, 5)
    measured = ProblemMeasurement("p", "f", "name", tuple(ALL_PASS), timing)
    line = score_problem(RUBRIC, measured, PROBLEM).feedback[-1]
    assert ("Full speed points need" in line) == (advice is not None)
    assert advice is None or advice in line
