"""Feedback that teaches: each common mistake, written as a minimal wrong answer, is graded with
the real worker and must produce its diagnosis; correct answers must get none. Also the HTML
rendering, the instructor commands and the second assignment."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import html5lib
import nbformat
import pytest
import yaml
from markdown_it import MarkdownIt
from nbformat.v4 import new_code_cell, new_notebook

from grader.inputs import Secret
from grader.models import GradeResult, ProblemResult
from grader.pipeline import GradeOptions, Grader
from grader.report import feedback_html, feedback_markdown
from grader.rubric import rubric_schema_json

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

REPO = Path(__file__).resolve().parent.parent
RUBRICS = REPO / "rubrics"
HEADER = "import jax\nimport jax.numpy as jnp\nimport numpy as np\n"


def subset_rubric(folder: Path, name: str, problems: list[str]) -> Path:
    source = RUBRICS / f"{name}.yaml"
    data = yaml.safe_load(source.read_text())
    data["reference"] = str((source.parent / data["reference"]).resolve())
    data["defaults"]["limits"] = {"time_limit_s": 10, "memory_mb": 2048}
    data["problems"] = {k: v for k, v in data["problems"].items() if k in problems}
    path = folder / f"{name}-{'-'.join(problems)}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


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
            assert all(line.startswith("Speed at") for line in problem.feedback[1:])


@pytest.mark.parametrize(
    "example", ["seed_homework.ipynb", "mistakes.ipynb", "not_a_notebook.ipynb"]
)
def test_markdown_and_html_render(graded, example: str) -> None:  # type: ignore[no-untyped-def]
    result: GradeResult = graded(example)
    tokens = MarkdownIt("commonmark").enable("table").parse(feedback_markdown(result))
    assert tokens[0].type == "heading_open"
    page = feedback_html(result)
    html5lib.HTMLParser(strict=True).parse(page)
    assert "<table>" in page or result.status == "invalid"


def test_student_text_cannot_inject_markup(graded) -> None:  # type: ignore[no-untyped-def]
    result: GradeResult = graded("mistakes.ipynb")
    hostile = result.problems[0].model_copy(update={"output": "<script>alert(1)</script>"})
    page = feedback_html(result.model_copy(update={"problems": [hostile]}))
    assert "<script>" not in page and "&lt;script&gt;" in page


def matgrade(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args], cwd=cwd, capture_output=True, text=True,
        timeout=900, env={**os.environ, "MATGRADE_SECRET": "feedback-tests"},
    )  # fmt: skip


@pytest.mark.parametrize("rubric", ["hw2.yaml", "hw3.yaml"])
def test_check_rubric_passes_on_shipped_rubrics(rubric: str) -> None:
    result = matgrade("check-rubric", str(RUBRICS / rubric))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("every problem passed its checks")


def test_check_rubric_fails_on_a_tolerance_too_tight_for_its_reference(tmp_path: Path) -> None:
    data = yaml.safe_load((RUBRICS / "hw3.yaml").read_text())
    data["reference"] = str((RUBRICS / data["reference"]).resolve())
    data["problems"]["logdet_grad"]["tolerance"] = {"rtol": 1e-17}
    for problem in data["problems"].values():  # the verdict must not hang on this machine's speed
        problem.pop("timing", None)
        problem["points"]["speed"] = 0
    tight = tmp_path / "tight.yaml"
    tight.write_text(yaml.safe_dump(data, sort_keys=False))
    result = matgrade("check-rubric", str(tight))
    assert result.returncode == 1
    assert "FAIL logdet_grad: the closed form differs from autodiff by" in result.stdout
    assert "the tolerance is too tight for this reference" in result.stdout
    assert result.stderr == f"matgrade: {tight}: problems to fix: logdet_grad\n"


def test_rubric_schema_is_committed_and_referenced() -> None:
    assert (RUBRICS / "rubric.schema.json").read_text() == rubric_schema_json()
    for rubric in ("hw2.yaml", "hw3.yaml"):
        first = (RUBRICS / rubric).read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=./rubric.schema.json"


def test_explain_reveal_shows_inputs_output_and_reference(tmp_path: Path) -> None:
    notebook = tmp_path / "eve.ipynb"
    code = "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X)"
    nbformat.write(new_notebook(cells=[new_code_cell(HEADER), new_code_cell(code)]), notebook)
    rubric = subset_rubric(tmp_path, "hw2", ["p2_grad_eigprod"])
    assert (
        matgrade(str(notebook), "--rubric", str(rubric), "--out", str(tmp_path / "o")).returncode
        == 0
    )
    plain = matgrade("explain", str(tmp_path / "o" / "eve.json"))
    assert (
        plain.returncode == 0
        and "Run with --reveal" in plain.stdout
        and "-- input" not in plain.stdout
    )
    revealed = matgrade(
        "explain", str(tmp_path / "o" / "eve.json"), "--reveal", "--rubric", str(rubric)
    )
    assert revealed.returncode == 0, revealed.stderr
    assert "== p2_grad_eigprod [random #0] sizes n=5" in revealed.stdout
    for part in ("-- input X:", "-- student's output:", "-- reference:"):
        assert part in revealed.stdout


@pytest.mark.parametrize(
    ("notebook", "statuses"),
    [
        (
            "good.ipynb",
            {"ridge_grad": "passed", "logdet_grad": "passed", "trace_form_grad": "passed"},
        ),
        (
            "mistakes.ipynb",
            {"ridge_grad": "wrong", "logdet_grad": "wrong", "trace_form_grad": "partial"},
        ),
    ],
)
def test_second_assignment_grades_its_examples(
    tmp_path: Path, notebook: str, statuses: dict[str, str]
) -> None:
    example = REPO / "examples" / "hw3" / notebook
    result = matgrade(str(example), "--rubric", str(RUBRICS / "hw3.yaml"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / notebook.replace(".ipynb", ".json")).read_text())
    assert {p["id"]: p["status"] for p in data["problems"]} == statuses
