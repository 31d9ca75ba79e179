"""explain: a disputed grade shown with its hidden inputs, the output and the reference."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from helpers import HEADER, REPO, rubric_variant, run_matgrade
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.slow  # starts workers, timers or JAX


def matgrade(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_matgrade(*args, cwd=cwd, secret="feedback-tests")


def test_explain_reveal_shows_inputs_output_and_reference(tmp_path: Path) -> None:
    notebook = tmp_path / "eve.ipynb"
    code = "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X)"
    nbformat.write(new_notebook(cells=[new_code_cell(HEADER), new_code_cell(code)]), notebook)
    limits = {"time_limit_s": 10, "memory_mb": 2048}
    rubric = rubric_variant(tmp_path, "hw2.yaml", problems=["p2_grad_eigprod"], limits=limits)
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


@pytest.fixture(scope="module")
def graded_eve(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eve's notebook graded from its own folder, with one problem missing."""
    folder = tmp_path_factory.mktemp("eve")
    code = "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X)"
    nbformat.write(
        new_notebook(cells=[new_code_cell(HEADER), new_code_cell(code)]), folder / "eve.ipynb"
    )
    limits = {"time_limit_s": 10, "memory_mb": 2048}
    rubric_variant(
        folder, "hw2.yaml", problems=["p2_grad_eigprod", "p2_grad_eigsum"], limits=limits
    )
    graded = matgrade("eve.ipynb", "--rubric", "hw2.yaml", cwd=folder)
    assert graded.returncode == 0, graded.stderr
    return folder


def test_explain_lists_points_lost_without_a_failing_case(graded_eve: Path) -> None:
    shown = matgrade("explain", str(graded_eve / "matgrade-results" / "eve.json"))
    assert "- p2_grad_eigsum: missing, 0 / 1.5: No function found." in shown.stdout


def test_explain_reveal_finds_the_notebook_from_another_folder(graded_eve: Path) -> None:
    result = graded_eve / "matgrade-results" / "eve.json"
    revealed = matgrade(
        "explain", str(result), "--reveal", "--rubric", str(graded_eve / "hw2.yaml")
    )
    assert revealed.returncode == 0, revealed.stderr
    assert "-- student's output:" in revealed.stdout


def test_explain_reveal_refuses_another_secret(graded_eve: Path) -> None:
    result = graded_eve / "matgrade-results" / "eve.json"
    revealed = run_matgrade(
        "explain", str(result), "--reveal", "--rubric", str(graded_eve / "hw2.yaml"),
        cwd=REPO, secret="not-the-grading-secret",
    )  # fmt: skip
    assert revealed.returncode == 2
    assert revealed.stderr.startswith("matgrade: error: --reveal needs the secret this result")
