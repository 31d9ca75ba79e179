"""Diagnoses in feedback: each common mistake, written as a minimal wrong answer, is graded
with the real worker and must produce its diagnosis; correct answers must get none."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest
from helpers import HEADER, RUBRICS, rubric_variant
from nbformat.v4 import new_code_cell, new_notebook

from grader.inputs import Secret
from grader.models import ProblemResult
from grader.pipeline import GradeOptions, Grader

pytestmark = pytest.mark.slow  # starts workers, timers or JAX


def subset_rubric(folder: Path, name: str, problems: list[str]) -> Path:
    source = RUBRICS / f"{name}.yaml"
    limits = {"time_limit_s": 10, "memory_mb": 2048}
    target = f"{name}-{'-'.join(problems)}.yaml"
    return rubric_variant(folder, target, source=source, problems=problems, limits=limits)


_graders: dict[str, Grader] = {}


@pytest.fixture(scope="module")
def grade(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("feedback")

    def run(rubric: str, problem: str, code: str) -> ProblemResult:
        key = f"{rubric}:{problem}"
        if key not in _graders:
            path = subset_rubric(folder, rubric, [problem])
            _graders[key] = Grader(GradeOptions(path, Secret(b"feedback-tests", hidden=True)))
        # The student id, and with it the hidden inputs, follows the name: hash() is salted per run.
        notebook = folder / f"{problem}-{hashlib.sha256(code.encode()).hexdigest()[:12]}.ipynb"
        nbformat.write(new_notebook(cells=[new_code_cell(HEADER), new_code_cell(code)]), notebook)
        return _graders[key].grade(notebook).problems[0]

    yield run
    for grader in _graders.values():
        grader.close()
    _graders.clear()


DIAGNOSES = [
    pytest.param("hw2", "p1_grad_u", "def grad_u(U, V, Y, lambd):\n    return 2 * (U @ V - Y) @ V.T",
                 "regulariser's gradient is missing", id="missing-regulariser"),
    pytest.param("hw2", "p1_grad_v", "def grad_v(U, V, Y, lambd):\n    return 2 * U.T @ (U @ V - Y) + 2 * lambd * V",
                 "counted twice", id="doubled-regulariser"),
    pytest.param("hw2", "p1_grad_u", "def grad_u(U, V, Y, lambd):\n    return (U @ V - Y) @ V.T + lambd * U / 2",
                 "exactly 1/2 times the correct one", id="factor-half"),
    pytest.param("hw2", "p2_grad_eigprod", "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X)",
                 "transpose of the correct one", id="transposed"),
    pytest.param("hw2", "p2_grad_eigprod", "def grad_eigprod(X):\n    return (jnp.linalg.det(X) * jnp.linalg.inv(X).T).astype(jnp.float32)",
                 "float32 level", id="float32"),
    pytest.param("hw2", "p2_softmax_jacobian",
                 "def softmax_jacobian(w):\n    s = jnp.exp(w) / jnp.exp(w).sum()\n    return jnp.diag(s) - jnp.outer(s, s)",
                 "subtract the maximum before exponentiating", id="unstable-softmax"),
    pytest.param("hw2", "p2_grad_eigsum", "def grad_eigsum(X):\n    return jnp.ones(X.shape[0])",
                 "wrong shape: expected (6, 6), got (6)", id="wrong-shape"),
    pytest.param("hw2", "p1_logistic_hessian",
                 "def logistic_hessian(w, X, y):\n    m = y * (X @ w)\n    d = jax.nn.sigmoid(m) * jax.nn.sigmoid(-m)\n    return (X.T * d) @ X",
                 "the identity matrix, is missing", id="missing-identity"),
    pytest.param("hw3", "trace_form_grad", "def trace_form_grad(X, A):\n    return 2 * A @ X",
                 "Right on symmetric inputs only", id="only-symmetric"),
    pytest.param("hw3", "logdet_grad", "def logdet_grad(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T",
                 "That is the gradient of det X", id="gradient-of-det"),
    pytest.param("hw3", "ridge_grad",
                 "def ridge_grad(x, A, b, mu):\n    return A.T @ (A @ x - b) + mu * x * (x.shape[0] == 4)",
                 "Right at some sizes (m=9, n=4) but not at others", id="only-some-sizes"),
    pytest.param("hw3", "ridge_grad",
                 "def ridge_grad(x, A, b, mu):\n    return A.T @ (A @ x - b) + mu * x * (A.shape[0] == A.shape[1])",
                 "Right on square inputs only", id="only-square"),
    pytest.param("hw2", "p2_softmax_jacobian",
                 "def softmax_jacobian(w):\n    s = jax.nn.softmax(w)\n    rows = [s[i] * ((jnp.arange(len(w)) == i) - s) for i in range(len(w))]\n    return jnp.stack(rows)",
                 "avoid Python loops over entries", id="slow-python-loop"),
]  # fmt: skip


@pytest.mark.parametrize(("rubric", "problem", "code", "fragment"), DIAGNOSES)
def test_mistake_is_diagnosed(grade, rubric: str, problem: str, code: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    result = grade(rubric, problem, code)
    assert any(fragment in line for line in result.feedback), result.feedback


CORRECT = [
    pytest.param("hw2", "p1_grad_u", "def grad_u(U, V, Y, lambd):\n    return 2 * (U @ V - Y) @ V.T + lambd * U", id="grad-u"),
    pytest.param("hw2", "p2_softmax_jacobian", "def softmax_jacobian(w):\n    s = jax.nn.softmax(w)\n    return jnp.diag(s) - jnp.outer(s, s)", id="softmax"),
    pytest.param("hw3", "trace_form_grad", "def trace_form_grad(X, A):\n    return (A + A.T) @ X", id="trace-form"),
]  # fmt: skip


@pytest.mark.parametrize(("rubric", "problem", "code"), CORRECT)
def test_correct_answers_get_no_diagnosis(grade, rubric: str, problem: str, code: str) -> None:  # type: ignore[no-untyped-def]
    result = grade(rubric, problem, code)
    assert result.status == "passed"
    assert result.feedback[0] == "Correct on every hidden case."
    assert all(line.startswith("Speed at") for line in result.feedback[1:]), result.feedback


def test_seed_answers_get_no_false_diagnosis(graded) -> None:  # type: ignore[no-untyped-def]
    seed = graded("seed_homework.ipynb")
    for problem in seed.problems:
        if problem.status == "passed":
            assert problem.feedback[0] == "Correct on every hidden case."
            assert all(
                line.startswith("Speed at") or line.endswith("agrees with the reference.")
                for line in problem.feedback[1:]
            )
