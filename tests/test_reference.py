"""The shipped reference: each closed form agrees with autodiff of its objective."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from grader.assignment import load_assignment
from grader.baseline import ReferenceSide, configure_jax
from grader.compare import relative_error
from grader.inputs import make_case
from grader.rubric import default_rubric_path, load_rubric

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
    # only adds thread switches, which ran the jitted softmax baseline at 17-21 us, not 10.
    assert reference.jax.config.read("jax_cpu_enable_async_dispatch") is False
