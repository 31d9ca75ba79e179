"""measure_speed as a pure function: fake rounds in, ratio and integrity verdicts out."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from grader.inputs import Case
from grader.rubric import Timing
from grader.timing import Round, measure_speed

SPEC = Timing(sizes={"n": 3}, min_repeats=5, budget_s=0.01)


def case_for_round(index: int) -> Case:
    return Case(family="timing", index=index, sizes={"n": 3}, args=())


def honest(per_call: Callable[[int], float]) -> Callable[[Case, int], Round]:
    """A worker whose reports agree with the parent's clock; round r's calls take per_call(r)."""

    def student(case: Case, calls: int) -> Round:
        times = [per_call(case.index)] * calls
        return Round(times, sum(times) + 1e-4)

    return student


def baseline_at(per_call: Callable[[int], float]) -> Callable[[Case, int], list[float]]:
    return lambda case, calls: [per_call(case.index)] * calls


def measure(
    student: Callable[[Case, int], Round],
    baseline: Callable[[Case, int], list[float]],
    cpu_used: float = 0.0,
) -> tuple[float, str | None]:
    readings = iter([0.0, cpu_used])
    outcome = measure_speed(student, baseline, case_for_round, SPEC, 2, lambda: next(readings))
    assert outcome.ratio is not None
    return outcome.ratio, outcome.flagged


def test_each_round_is_paired_with_its_baseline_round() -> None:
    # The machine is twice as slow in rounds 2 and 3: both sides see it, the ratio does not.
    slowdown = {2: 2.0, 3: 2.0}
    ratio, flagged = measure(
        honest(lambda r: 3e-4 * slowdown.get(r, 1.0)),
        baseline_at(lambda r: 1e-4 * slowdown.get(r, 1.0)),
    )
    assert ratio == pytest.approx(3.0) and flagged is None


def test_the_median_round_ignores_one_disturbed_round() -> None:
    ratio, _ = measure(honest(lambda r: 5e-3 if r == 4 else 2e-4), baseline_at(lambda r: 1e-4))
    assert ratio == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("student", "cpu_used", "reason"),
    [
        pytest.param(
            lambda case, calls: Round([1e-6] * calls, 0.02 * calls + 1e-4),
            0.0,
            "(was the clock patched?)",
            id="clock-reports-too-little",
        ),
        pytest.param(
            lambda case, calls: Round([2e-4] * calls, 2e-4 * calls, "max error 1"),
            0.0,
            "returned a wrong result (max error 1)",
            id="wrong-output",
        ),
        pytest.param(honest(lambda r: 2e-4), 5.0, "s of CPU in", id="helpers-did-the-work"),
    ],
)
def test_rounds_the_grader_does_not_believe_are_flagged(
    student: Callable[[Case, int], Round], cpu_used: float, reason: str
) -> None:
    _, flagged = measure(student, baseline_at(lambda r: 1e-4), cpu_used)
    assert flagged is not None and reason in flagged
