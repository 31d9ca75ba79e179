"""check-rubric on the shipped rubrics and on a broken one, and the committed rubric schema."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import REPO, RUBRICS, rubric_variant, run_matgrade

from grader.rubric import rubric_schema_json

pytestmark = pytest.mark.slow  # starts workers, timers or JAX


def matgrade(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_matgrade(*args, cwd=cwd, secret="feedback-tests")


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


BROKEN_REFERENCE = """
import jax.numpy as jnp
from grader.assignment import Arg, Mistake, Problem

def objective(X):
    return jnp.sum(X * X)

PROBLEMS = [
    Problem(id="wrong_argnum", title="", args=(Arg("X", ("n", "n")),), objective=objective,
            closed_form=lambda X: 2 * X, argnum=3),
    Problem(id="not_scalar", title="", args=(Arg("X", ("n", "n")),), objective=lambda X: X * X,
            closed_form=lambda X: 2 * X),
    Problem(id="wrong_parameters", title="", args=(Arg("X", ("n", "n")),), objective=objective,
            closed_form=lambda X, Y: 2 * X),
    Problem(id="fails_when_called", title="", args=(Arg("X", ("n", "n")),), objective=objective,
            closed_form=lambda X: X @ jnp.ones((X.shape[0] + 1, 2))),
    Problem(id="silent_mistake", title="", args=(Arg("X", ("n", "n"), kind="symmetric"),),
            objective=objective, closed_form=lambda X: 2 * X,
            mistakes=(Mistake("transposed", lambda X: 2 * X.T, "transpose"),)),
    Problem(id="left_out", title="", args=(Arg("X", ("n", "n")),), objective=objective,
            closed_form=lambda X: 2 * X),
]
"""


def test_check_rubric_reports_a_broken_reference_in_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_REFERENCE)
    family = {"name": "random", "count": 1, "sizes": [{"n": 3}]}
    problems = [
        "wrong_argnum",
        "not_scalar",
        "wrong_parameters",
        "fails_when_called",
        "silent_mistake",
    ]
    rubric = {
        "assignment": "broken",
        "reference": "broken.py",
        "problems": {
            pid: {"names": [pid], "points": {"correctness": 1}, "cases": [family]}
            for pid in problems
        },
    }
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(rubric))
    result = matgrade("check-rubric", str(tmp_path / "broken.yaml"))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for pid in problems[:4]:
        assert any(
            line.startswith(f"FAIL {pid}: evaluating the reference failed (") for line in lines
        ), pid
    assert any(
        line.startswith("warn silent_mistake: mistake 'transposed' equals the closed form")
        for line in lines
    )
    assert any(
        line.startswith("warn left_out: in the reference but not in the rubric") for line in lines
    )


def test_check_rubric_fails_a_written_reference_formula_that_is_not_the_closed_form(
    tmp_path: Path,
) -> None:
    def edit(data: dict) -> None:  # type: ignore[type-arg]
        problem = data["problems"]["p1_grad_u"]
        problem["written"] = {
            "reference": [r"2(UV-Y)V^T + \lambda U", r"2(UV-Y)V + \lambda U", r"Q U"],
            "points": 1,
        }
        problem.pop("timing")
        problem["points"]["speed"] = 0

    path = rubric_variant(tmp_path, "written.yaml", problems=["p1_grad_u"], edit=edit)
    result = matgrade("check-rubric", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert r"ok   p1_grad_u: written formula 2(UV-Y)V^T + \lambda U agrees (max error" in "\n".join(
        lines
    )
    assert (
        r"FAIL p1_grad_u: written formula 2(UV-Y)V + \lambda U does not evaluate to the closed "
        "form: it has V where the reference has Vᵀ; check written.symbols, written.rows and the "
        "formula" in lines
    )
    assert (
        "FAIL p1_grad_u: written formula Q U does not evaluate to the closed form: Q is not one "
        "of this problem's symbols; check written.symbols, written.rows and the formula" in lines
    )
