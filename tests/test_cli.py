"""The command line as a user runs it: real processes, exact messages and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from helpers import run_matgrade
from nbformat.v4 import new_code_cell, new_notebook

from grader.cli import build_parser

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-value-that-must-not-leak"


def matgrade(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_matgrade(*args, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def small_notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("subs")
    cells = [
        "import jax.numpy as jnp\nimport os",
        "def grad_eigprod(X):\n    print(os.environ.get('MATGRADE_SECRET'))\n"
        "    return jnp.linalg.det(X) * jnp.linalg.inv(X).T",
    ]
    path = folder / "alice.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    return path


@pytest.fixture(scope="module")
def graded_run(small_notebook: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("out")
    result = matgrade(str(small_notebook), "--out", str(out), cwd=small_notebook.parent,
                      env={"MATGRADE_SECRET": SECRET})  # fmt: skip
    return result, out


def test_grades_and_writes_json_and_markdown(graded_run) -> None:  # type: ignore[no-untyped-def]
    result, out = graded_run
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["alice.json", "alice.md"]
    data = json.loads((out / "alice.json").read_text())
    assert data["student"] == "alice" and data["status"] == "graded"
    eigprod = next(p for p in data["problems"] if p["id"] == "p2_grad_eigprod")
    assert eigprod["status"] == "passed"
    assert result.stdout.splitlines()[0].startswith("alice: ")


def test_secret_never_reaches_outputs(graded_run) -> None:  # type: ignore[no-untyped-def]
    result, out = graded_run
    texts = [result.stdout, result.stderr] + [p.read_text() for p in out.iterdir()]
    assert not [text for text in texts if SECRET in text]
    eigprod = next(p for p in json.loads((out / "alice.json").read_text())["problems"]
                   if p["id"] == "p2_grad_eigprod")  # fmt: skip
    assert eigprod["output"].startswith("None\n")


def test_schema(tmp_path: Path) -> None:
    result = matgrade("--schema", cwd=tmp_path)
    schema = json.loads(result.stdout)
    assert result.returncode == 0
    assert {"schema_version", "submission", "student", "status", "total", "max_total", "problems",
            "errors"} <= set(schema["properties"])  # fmt: skip


ERRORS = [
    pytest.param([], 2, "matgrade: error: no submission given (try: matgrade SUBMISSION.ipynb)\n", id="nothing"),
    pytest.param(["missing.ipynb"], 2, "matgrade: error: no such file or folder: missing.ipynb\n", id="missing-file"),
    pytest.param(["x.ipynb", "--rubric", "bad.yaml"], 2,
                 "matgrade: error: bad.yaml: problems.p.tolerance.rtl: unknown field\n", id="bad-rubric"),
    pytest.param(["x.ipynb", "--rubric", "noref.yaml"], 2,
                 "matgrade: error: noref.yaml: reference: no such file: {tmp}/gone.py\n", id="missing-reference"),
    pytest.param(["x.ipynb", "--out", "x.ipynb"], 2,
                 "matgrade: error: --out x.ipynb: cannot create the folder: File exists\n", id="out-is-a-file"),
    pytest.param(["x.ipynb", "--secret-file", "nope"], 2,
                 "matgrade: error: nope: cannot read secret file: No such file or directory\n", id="no-secret-file"),
    pytest.param(["empty"], 2, "matgrade: error: no notebooks (*.ipynb) found under empty\n", id="no-notebooks"),
    pytest.param(["merge", "empty", "--out", "merged"], 2,
                 "matgrade: error: merge: no matgrade results (*.json) found in empty\n", id="nothing-to-merge"),
    pytest.param(["x.ipynb", "-j", "abc"], 2, "expected a whole number, got 'abc'", id="jobs-not-a-number"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "stderr"), ERRORS)
def test_usage_errors(tmp_path: Path, args: list[str], code: int, stderr: str) -> None:
    (tmp_path / "x.ipynb").write_text("{}")
    (tmp_path / "bad.yaml").write_text(
        "assignment: a\nreference: r.py\nproblems:\n  p:\n    names: [f]\n"
        "    points: {correctness: 1}\n    tolerance: {rtl: 1.0e-8}\n"
        "    cases: [{name: a, sizes: [{n: 2}]}]\n"
    )
    (tmp_path / "noref.yaml").write_text(
        (tmp_path / "bad.yaml")
        .read_text()
        .replace("reference: r.py", "reference: gone.py")
        .replace("    tolerance: {rtl: 1.0e-8}\n", "")
    )
    (tmp_path / "empty").mkdir()
    result = matgrade(*args, cwd=tmp_path)
    if stderr.startswith("matgrade: error:"):
        assert (result.returncode, result.stderr) == (code, stderr.format(tmp=tmp_path))
    else:  # argparse's own message, after its usage lines
        assert result.returncode == code and result.stderr.rstrip().endswith(stderr)


def test_missing_secret_warns(tmp_path: Path) -> None:
    (tmp_path / "x.ipynb").write_text("not a notebook")
    result = matgrade("x.ipynb", "--out", "o", cwd=tmp_path)
    assert result.returncode == 0
    assert "inputs come from a public default and are not hidden" in result.stderr
    assert json.loads((tmp_path / "o" / "x.json").read_text())["status"] == "invalid"


def test_every_option_and_command_is_documented_in_readme() -> None:
    from grader.cli import (
        build_check_parser,
        build_explain_parser,
        build_merge_parser,
        build_schema_parser,
    )

    readme = (REPO / "README.md").read_text()
    parsers = [build_parser(), build_merge_parser(), build_check_parser(), build_explain_parser(),
               build_schema_parser()]  # fmt: skip
    options = {o for parser in parsers for action in parser._actions for o in action.option_strings}
    assert sorted(o for o in options if o.startswith("--") and f"`{o}" not in readme) == []
    for command in (
        "matgrade merge",
        "matgrade check-rubric",
        "matgrade schema rubric",
        "matgrade explain",
    ):
        assert command in readme


def test_an_unwritable_cache_folder_warns_and_grading_goes_on(
    small_notebook: Path, tmp_path: Path
) -> None:
    result = matgrade(
        str(small_notebook), "--out", "o", cwd=tmp_path,
        env={"MATGRADE_SECRET": SECRET, "MATGRADE_CACHE_DIR": "/proc/matgrade-cache"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "matgrade: warning: cannot write the compilation cache /proc/matgrade-cache: grading "
        "without it (slower); set $MATGRADE_CACHE_DIR to a writable folder, or to an empty value "
        "to turn caching off"
    ) in result.stderr.splitlines()  # beside the sandbox's warning, which depends on the machine
    assert json.loads((tmp_path / "o" / "alice.json").read_text())["status"] == "graded"
