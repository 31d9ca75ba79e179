"""The shipped reference: each closed form agrees with autodiff of its objective."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from grader.assignment import load_assignment
from grader.check_rubric import CALLS_PER_RUN, TIMING_RUNS, _speed_ratios
from grader.compare import relative_error
from grader.inputs import make_case, make_timing_case
from grader.jax_runtime import configure_jax
from grader.reference_side import ReferenceSide
from grader.rubric import default_rubric_path, load_rubric

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

RUBRIC = load_rubric(default_rubric_path())
ASSIGNMENT = load_assignment(RUBRIC.reference_path())


@pytest.fixture(scope="module")
def reference() -> ReferenceSide:
    configure_jax("cpu")
    return ReferenceSide()


CASES = [
    pytest.param(problem_id, family.name, index, id=f"{problem_id}-{family.name}-{index}")
    for problem_id, rubric in RUBRIC.rubric.problems.items()
    for family in rubric.cases
    for index in range(family.count)
]


@pytest.mark.parametrize(("problem_id", "family_name", "index"), CASES)
def test_closed_form_matches_autodiff(
    reference: ReferenceSide, problem_id: str, family_name: str, index: int
) -> None:
    problem = ASSIGNMENT.problems[problem_id]
    rubric = RUBRIC.rubric.problems[problem_id]
    family = next(f for f in rubric.cases if f.name == family_name)
    case = make_case(b"reference-check", "student", problem, family, index)
    closed = reference.expected(problem, case.args)
    autodiff = reference.autodiff(problem, case.args)
    assert np.isfinite(closed).all()
    assert relative_error(closed, autodiff) < 1e-11


def test_the_grader_runs_blas_on_one_thread(reference: ReferenceSide) -> None:
    # Threaded BLAS in the grader put its comparisons on the other lane's core mid-timing.
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas
    assert [pool["num_threads"] for pool in blas] == [1] * len(blas)


def test_the_grader_and_its_timer_dispatch_jax_inline(reference: ReferenceSide) -> None:
    # configure_jax also starts the baseline timer's JAX: on one core, asynchronous dispatch
    # only adds thread switches (docs/performance.md, inline CPU dispatch).
    assert reference.jax.config.read("jax_cpu_enable_async_dispatch") is False


def test_check_rubric_times_the_reference_on_inputs_already_on_the_device(
    reference: ReferenceSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Students' answers get device arrays, so the reference is timed on inputs already on the
    # device: copying them in every timed call would charge the reference for the copies.
    problem = ASSIGNMENT.problems["p1_logistic_grad"]
    timing = RUBRIC.rubric.problems[problem.id].timing
    assert timing is not None
    case = make_timing_case(b"reference-check", "check", problem, timing.sizes, 0)
    copies: list[object] = []
    copy = reference.jax.numpy.asarray

    def counted_copy(*args: object, **kwargs: object) -> object:
        copies.append(args)
        return copy(*args, **kwargs)

    monkeypatch.setattr(reference.jax.numpy, "asarray", counted_copy)
    _speed_ratios(reference, problem, case.args)
    assert 0 < len(copies) < TIMING_RUNS * CALLS_PER_RUN
