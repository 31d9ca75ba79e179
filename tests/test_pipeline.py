"""One notebook through the pipeline: which functions are candidates, and what a grading
reports while it runs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from helpers import TEST_SECRET, rubric_variant
from nbformat.v4 import new_code_cell, new_notebook

from grader.events import Event, PhaseEvent, TimingEvent
from grader.lanes import Lane
from grader.messages import LoadReply
from grader.models import GradeResult
from grader.notebook import extract
from grader.pipeline import GradeOptions, Grader
from grader.sandbox import WorkerConfig
from grader.session import RunControl, WorkerSession
from grader.student_run import LATE_ATTEMPT

ANSWER = "import jax.numpy as jnp\n\ndef grad_eigsum(X):\n    return jnp.eye(X.shape[0])\n"


def test_only_names_the_grader_extracted_are_candidates() -> None:
    """Load-time code could make the worker report any name; the grader trusts its own
    extraction for which names exist, and the worker only for their arity."""
    extraction = extract([ANSWER])
    session = WorkerSession(WorkerConfig(platform="cpu"), extraction, RunControl(), Lane(None))
    forged = {"callables": {"grad_eigsum": [1, 1], "injected_by_load_time_code": [1, 1]}}
    session.load_reply = LoadReply.parse(forged)
    assert session.callables() == {"grad_eigsum": (1, 1)}


def grade_eye_timed(tmp_path: Path, curve: dict[str, float]) -> tuple[GradeResult, list[Event]]:
    """The identity answer graded with eigsum's speed scored on `curve`, and what it reported."""
    notebook = tmp_path / "eye.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(ANSWER)]), notebook)

    def timed_eigsum(data: dict[str, object]) -> None:
        problem = data["problems"]["p2_grad_eigsum"]  # type: ignore[index]
        problem["points"]["speed"] = 0.5
        problem["speed"] = curve

    rubric = rubric_variant(tmp_path, "eye.yaml", problems=["p2_grad_eigsum"], edit=timed_eigsum)
    events: list[Event] = []
    grader = Grader(GradeOptions(rubric, TEST_SECRET, listener=events.append))
    try:
        return grader.grade(notebook), events
    finally:
        grader.close()


@pytest.mark.slow
def test_a_grading_reports_its_phases_and_timing_attempts(tmp_path: Path) -> None:
    # Never at stake: no late timing.
    result, events = grade_eye_timed(tmp_path, {"full_at": 1e6, "zero_at": 1e7})
    assert result.problems[0].status == "passed"
    phases = [(e.phase, e.problem) for e in events if isinstance(e, PhaseEvent)]
    assert phases[0] == ("checks", None) and phases[-1] == ("written answers", None)
    assert ("grading", None) in phases
    assert ("timing", "p2_grad_eigsum") in phases
    timings = [e for e in events if isinstance(e, TimingEvent)]
    assert [e.attempt for e in timings] == list(range(len(timings))) and timings
    assert all(e.outcome.pairs for e in timings)


@pytest.mark.slow
def test_an_answer_with_speed_points_at_stake_is_timed_once_more_late(tmp_path: Path) -> None:
    result, events = grade_eye_timed(tmp_path, {"full_at": 1e-6, "zero_at": 1e6})
    phases = [(e.phase, e.problem) for e in events if isinstance(e, PhaseEvent)]
    assert phases[-1] == ("late timing", None)
    attempts = [e.attempt for e in events if isinstance(e, TimingEvent)]
    assert attempts[-1] == LATE_ATTEMPT
    timing = result.problems[0].timing
    assert timing is not None and timing.attempts == len(attempts)
    assert 0 < result.problems[0].speed_score < 0.5
