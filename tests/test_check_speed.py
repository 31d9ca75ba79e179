"""check-rubric's speed verdict as a pure function of recorded times: no JAX timing involved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from grader.assignment import Arg, Problem
from grader.check_rubric import _check_speed
from grader.rubric import CaseFamily, Points, ProblemRubric, SpeedCurve, TimingSettings


@dataclass
class FakeTimes:
    times: list[float]


class RecordedReference:
    """Stands in for ReferenceSide: the reference's eager calls take 3x the baseline's."""

    def evaluate_eagerly(self, problem: Problem, args: Any) -> None:
        pass

    def time_eagerly(self, problem: Problem, args: Any, calls: int) -> list[float]:
        return [3e-4] * calls

    def time_baseline(self, problem: Problem, args: Any, calls: int) -> FakeTimes:
        return FakeTimes([1e-4] * calls)


PROBLEM = Problem("p", "", (Arg("X", ("n", "n")),), objective=lambda x: x, closed_form=lambda x: x)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("full_at", "ok", "warning", "says"),
    [
        pytest.param(10.0, True, False, "earning 100% of the speed points", id="ample-headroom"),
        pytest.param(5.0, True, True, "raise speed.full_at to 6", id="less-than-2x-headroom"),
        pytest.param(2.0, False, False, "raise speed.full_at above 3", id="reference-too-slow"),
    ],
)
def test_the_speed_curve_needs_headroom_over_the_reference(
    full_at: float, ok: bool, warning: bool, says: str
) -> None:
    rubric = ProblemRubric(
        names=["f"], points=Points(correctness=1, speed=0.5),
        cases=[CaseFamily(name="a", sizes=[{"n": 3}])],
        timing=TimingSettings(sizes={"n": 3}), speed=SpeedCurve(full_at=full_at, zero_at=100),
    )  # fmt: skip
    finding = _check_speed(RecordedReference(), PROBLEM, rubric)  # type: ignore[arg-type]
    assert (finding.ok, finding.warning) == (ok, warning)
    assert says in finding.message
