"""The second assignment (hw3): its example notebooks are graded as their names say."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, RUBRICS, run_matgrade

pytestmark = pytest.mark.slow  # starts workers, timers or JAX


def matgrade(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_matgrade(*args, cwd=cwd, secret="feedback-tests")


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


def test_a_right_derivation_earns_its_written_points_when_the_code_is_wrong(
    tmp_path: Path,
) -> None:
    example = REPO / "examples" / "hw3" / "mistakes.ipynb"
    result = matgrade(str(example), "--rubric", str(RUBRICS / "hw3.yaml"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    problems = {
        p["id"]: p for p in json.loads((tmp_path / "mistakes.json").read_text())["problems"]
    }
    ridge = problems["ridge_grad"]
    assert ridge["status"] == "wrong" and ridge["written"]["status"] == "agrees"
    assert ridge["score"] == ridge["written"]["score"] == 0.5
    assert ridge["max_score"] == 3.0  # 2 + 0.5 for the code, 0.5 for the written answer
    assert (
        "Your written formula (A^\\top (Ax - b) + \\mu x, cell 3) is right; your code is not"
        in (" ".join(ridge["feedback"]))
    )
    trace = problems["trace_form_grad"]["written"]
    assert (trace["status"], trace["diagnosis"]) == ("disagrees", ["mistake:assumed_symmetric"])
