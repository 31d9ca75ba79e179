"""Which function answers which problem: by name, by behaviour, else the closest plausible one;
autodiff under a listed name does not hide an analytic answer; a notebook for another
assignment is told so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from helpers import TEST_SECRET, rubric_variant
from nbformat.v4 import new_code_cell, new_notebook

from grader.models import GradeResult
from grader.pipeline import GradeOptions, Grader

pytestmark = pytest.mark.slow  # starts workers and JAX

HEADER = "import jax\nimport jax.numpy as jnp\n"
OBJECTIVE = (
    "def J(U, V, Y, lambd):\n"
    "    return jnp.sum((U @ V - Y) ** 2) + lambd / 2 * (jnp.sum(U**2) + jnp.sum(V**2))\n"
)
RIGHT_U = "    return 2 * (U @ V - Y) @ V.T + lambd * U\n"


@pytest.fixture(scope="module")
def grader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grader]:
    def untimed(data: dict[str, Any]) -> None:
        for problem in data["problems"].values():
            problem.pop("timing", None)
            problem["points"]["speed"] = 0

    folder = tmp_path_factory.mktemp("matching")
    rubric = rubric_variant(
        folder, "uv.yaml", problems=["p1_grad_u", "p1_grad_v"], edit=untimed,
        limits={"time_limit_s": 10, "memory_mb": 1024},
    )  # fmt: skip
    grader = Grader(GradeOptions(rubric, TEST_SECRET))
    yield grader
    grader.close()


def graded(grader: Grader, folder: Path, *cells: str) -> dict[str, Any]:
    path = folder / "student.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in (HEADER, *cells)]), path)
    result: GradeResult = grader.grade(path)
    return {"result": result, **{p.id: p for p in result.problems}}


def verdict(found: dict[str, Any], pid: str) -> tuple[object, ...]:
    problem = found[pid]
    return (problem.status, problem.function, problem.matched_by)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        pytest.param(
            # Missing the regulariser's term, under a name the rubric does not list.
            ["def analyt_dfdU(U, V, Y, lambd):\n    return 2 * (U @ V - Y) @ V.T\n"],
            ("wrong", "analyt_dfdU", "closest"),
            id="wrong-answer-under-another-name",
        ),
        pytest.param(
            # The objective itself returns a scalar and has nothing of the rubric's names.
            [OBJECTIVE],
            ("missing", None, None),
            id="only-the-objective-is-not-an-answer",
        ),
        pytest.param(
            # The statement asks for autodiff as the timing baseline, under the listed name.
            [
                OBJECTIVE,
                "grad_u = jax.grad(J, argnums=0)\n",
                "def dJ_dU(U, V, Y, lambd):\n" + RIGHT_U,
            ],
            ("passed", "dJ_dU", "behaviour"),
            id="autodiff-under-the-listed-name-and-an-analytic-answer",
        ),
        pytest.param(
            [OBJECTIVE, "grad_u = jax.grad(J, argnums=0)\n"],
            ("forbidden", "grad_u", "name"),
            id="autodiff-only",
        ),
    ],
)
def test_which_function_answers(
    grader: Grader, tmp_path: Path, cells: list[str], expected: tuple[object, ...]
) -> None:
    assert verdict(graded(grader, tmp_path, *cells), "p1_grad_u") == expected


def test_a_closest_match_gets_the_usual_diagnoses(grader: Grader, tmp_path: Path) -> None:
    found = graded(
        grader, tmp_path, "def analyt_dfdU(U, V, Y, lambd):\n    return 2 * (U @ V - Y) @ V.T\n"
    )
    assert any("regulariser" in line for line in found["p1_grad_u"].feedback)


def test_a_notebook_for_another_assignment_is_told_so(grader: Grader, tmp_path: Path) -> None:
    found = graded(
        grader, tmp_path, "def softmax(w):\n    return jnp.exp(w) / jnp.sum(jnp.exp(w))\n"
    )
    result = found["result"]
    assert [p.status for p in result.problems] == ["missing", "missing"]
    assert result.notices == [
        "Nothing in this notebook matches rubric hw2: is it the right assignment?"
    ]


def test_a_listed_name_in_a_cell_that_does_not_parse_is_named(
    grader: Grader, tmp_path: Path
) -> None:
    broken = "def grad_v(U, V, Y, lambd):\n    return 2 * U.T @ (U @ V - Y) + lambd * V)\n"
    found = graded(grader, tmp_path, "def grad_u(U, V, Y, lambd):\n" + RIGHT_U, broken)
    assert found["p1_grad_v"].status == "missing"
    assert found["p1_grad_v"].feedback == [
        "Not graded: grad_v is defined in code cell 3, which has a syntax error at line 2 "
        "(unmatched ')'), so nothing in that cell could be graded."
    ]
