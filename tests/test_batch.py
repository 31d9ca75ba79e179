"""Grading a class: discovery, shards, resuming after SIGKILL, merge, summaries and exports."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib.image
import nbformat
import pytest
import yaml
from helpers import rubric_variant, run_matgrade
from nbformat.v4 import new_code_cell, new_notebook

from grader.batch import BatchEvents, Shard, Submission, discover, grade_all
from grader.cli import build_merge_parser, build_parser
from grader.errors import UsageError
from grader.pipeline import Graded
from grader.report.files import UMASK
from grader.sandbox import processes_with
from grader.sandbox.process import SCRATCH_PREFIX

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

REPO = Path(__file__).resolve().parent.parent
HEADER = "import jax.numpy as jnp\n"
STUDENTS = ["alice/hw2", "bob/hw2", "carol", "dan", "erin/final/hw2", "frank"]
ANSWERS = {
    "right": "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])\n\ndef grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T",
    "half": "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])",
    "wrong": "def grad_eigsum(X):\n    return 2 * jnp.eye(X.shape[0])",
}


def write_notebook(path: Path, answer: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(HEADER), new_code_cell(answer)]), path)
    return path


EIG = ("p2_grad_eigsum", "p2_grad_eigprod")


@pytest.fixture(scope="module")
def rubric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two quick problems and no speed points, so totals do not depend on timing noise."""

    def untimed(data: dict[str, Any]) -> None:
        for problem in data["problems"].values():
            problem["points"]["speed"] = 0
            problem.pop("timing")
            problem["cases"][0]["count"] = 2

    folder = tmp_path_factory.mktemp("rubric")
    limits = {"time_limit_s": 5, "memory_mb": 1024}
    return rubric_variant(folder, "class.yaml", problems=EIG, limits=limits, edit=untimed)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("class") / "subs"
    for index, student in enumerate(STUDENTS):
        answer = list(ANSWERS.values())[index % len(ANSWERS)]
        write_notebook(root / f"{student}.ipynb", answer)
    write_notebook(root / "alice" / ".ipynb_checkpoints" / "hw2-checkpoint.ipynb", ANSWERS["right"])
    write_notebook(root / ".hidden" / "x.ipynb", ANSWERS["right"])
    return root


def matgrade(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_matgrade(*args, cwd=Path.cwd(), secret="class-secret", env=env)


def test_discovery_ids_skip_checkpoints_and_hidden(classroom: Path) -> None:
    found = discover([classroom])
    assert [s.student for s in found] == STUDENTS
    assert [s.file_stem for s in found][:2] == ["alice__hw2", "bob__hw2"]


@pytest.mark.parametrize(
    ("names", "stems"),
    [
        pytest.param(["a/b", "a__b"], ["a__b-{a/b}", "a__b-{a__b}"], id="folder-and-file"),
        pytest.param(["李", "王"], ["李", "王"], id="han-names-kept"),
        pytest.param(["alice hw2", "alice_hw2"], ["alice_hw2-{alice hw2}", "alice_hw2-{alice_hw2}"], id="space-and-underscore"),
        pytest.param(["José Núñez/hw 2 (final)"], ["José_Núñez__hw_2_final_"], id="accents-kept"),
        pytest.param(["Alice", "alice"], ["Alice-{Alice}", "alice-{alice}"], id="case-insensitive-file-systems"),
    ],
)  # fmt: skip
def test_every_submission_gets_a_file_name_of_its_own(
    tmp_path: Path, names: list[str], stems: list[str]
) -> None:
    for name in names:
        write_notebook(tmp_path / f"{name}.ipynb", ANSWERS["right"])
    found = {s.student: s.file_stem for s in discover([tmp_path])}
    short = {name: hashlib.sha256(name.encode()).hexdigest()[:8] for name in names}
    assert [found[name] for name in names] == [
        stem.replace("{" + name + "}", short[name]) for name, stem in zip(names, stems, strict=True)
    ]


@pytest.mark.parametrize("count", [1, 3, 7])
def test_shards_partition_the_class_and_are_stable(count: int) -> None:
    students = [f"student{i}" for i in range(50)]
    shards = [Shard(k, count) for k in range(1, count + 1)]
    owners = [[s.index for s in shards if s.contains(student)] for student in students]
    assert all(len(owner) == 1 for owner in owners)
    more = [*students, "newcomer1", "newcomer2"]
    assert [[s.index for s in shards if s.contains(x)] for x in more[:50]] == owners


@pytest.mark.parametrize("text", ["0/3", "4/3", "1-3", "x"])
def test_bad_shard(text: str) -> None:
    with pytest.raises(UsageError, match=r"^expected K/N with 1 <= K <= N") as raised:
        Shard.parse(text)
    assert raised.value.option == "shard"


class ExplodingGrader:
    """Stands in for a Grader with a bug on one notebook."""

    class control:
        class stopping:
            @staticmethod
            def is_set() -> bool:
                return False

        @staticmethod
        def stop() -> None:
            raise AssertionError("a grader bug must not stop the batch")

    def measure(self, path: Path, student: str) -> Graded:
        if student == "bad":
            raise ZeroDivisionError("boom")
        return Graded(f"graded {student}", {})  # type: ignore[arg-type]

    def late_retimes(self, graded: Graded) -> list[str]:
        return ["p1"] if str(graded.result) == "graded c" else []

    def retime_late(self, path: Path, graded: Graded) -> Graded:
        raise ZeroDivisionError("a bug when timing again")

    def error_result(self, path: Path, student: str, error: BaseException) -> object:
        return f"error {student}: {error}"


def test_a_grader_bug_becomes_that_students_result() -> None:
    submissions = [Submission(Path(f"{n}.ipynb"), n) for n in ("a", "bad", "c")]
    seen: dict[str, object] = {}
    events = BatchEvents(graded=lambda s, r: seen.update({s.student: r}))
    grade_all(ExplodingGrader(), submissions, 2, events)  # type: ignore[arg-type]
    # A bug in the late timing keeps the result graded before it.
    assert seen == {"a": "graded a", "bad": "error bad: boom", "c": "graded c"}


@pytest.fixture(scope="module")
def full_run(classroom: Path, rubric: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full")
    result = matgrade(str(classroom), "-j", "2", "--rubric", str(rubric), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_folder_writes_results_and_summaries(full_run: Path) -> None:
    names = sorted(p.name for p in full_run.iterdir())
    assert names == sorted(
        [
            f"{s}.{ext}"
            for s in ("alice__hw2", "bob__hw2", "carol", "dan", "erin__final__hw2", "frank")
            for ext in ("json", "md")
        ]
        + ["summary.csv", "summary.md", "summary.png"]
    )
    rows = list(csv.DictReader((full_run / "summary.csv").open()))
    assert [(r["student"], r["total"]) for r in rows] == [
        ("alice/hw2", "2.5"), ("bob/hw2", "1.5"), ("carol", "0"), ("dan", "2.5"), ("erin/final/hw2", "1.5"), ("frank", "0"),
    ]  # fmt: skip
    image = matplotlib.image.imread(full_run / "summary.png")
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert "| p2_grad_eigsum | 4/6 |" in (full_run / "summary.md").read_text()


def test_rerun_skips_up_to_date_and_regrades_changes(
    classroom: Path, rubric: Path, full_run: Path
) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in full_run.glob("*.json")}
    write_notebook(classroom / "frank.ipynb", ANSWERS["right"])
    result = matgrade(str(classroom), "--rubric", str(rubric), "--out", str(full_run))
    assert result.returncode == 0
    assert (
        result.stdout.splitlines()[0]
        == "matgrade: 5 results are up to date (use --force to regrade)"
    )
    after = {p.name: p.stat().st_mtime_ns for p in full_run.glob("*.json")}
    assert [name for name in after if after[name] != before[name]] == ["frank.json"]
    assert json.loads((full_run / "frank.json").read_text())["total"] == 2.5


def test_sigkill_midway_then_rerun_completes_exactly_once(
    classroom: Path, rubric: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "grader.cli",
        str(classroom),
        "-j",
        "1",
        "--rubric",
        str(rubric),
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, env={**os.environ, "MATGRADE_SECRET": "class-secret"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("*.json"))) < 2:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = len(list(out.glob("*.json")))
    assert 2 <= partial < 6
    rerun = matgrade(str(classroom), "-j", "2", "--rubric", str(rubric), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    results = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert sorted(r["student"] for r in results) == STUDENTS
    assert all(r["status"] == "graded" for r in results)
    assert list(out.glob(".*")) == []
    time.sleep(1)
    assert workers_started_by(process.pid) == []
    assert list(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}{process.pid}-*")) == []


def test_ctrl_c_stops_a_grader_started_in_the_background_without_tracebacks(
    classroom: Path, rubric: Path, tmp_path: Path
) -> None:
    """A shell starts background jobs with SIGINT ignored; Ctrl-C (or `kill -INT`) reaches the
    grader and its timer processes, the whole process group."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader.cli", str(classroom), "-j", "1", "--rubric",
               str(rubric), "--out", str(out)]  # fmt: skip
    # As a shell's `&` does: SIGINT ignored, inherited through exec.
    in_background = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    process = subprocess.Popen(
        in_background, env={**os.environ, "MATGRADE_SECRET": "class-secret"},
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob("*.json")):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.rstrip().endswith("run the same command again to grade the rest")


def workers_started_by(grader_pid: int) -> list[int]:
    """Live workers of one grader, known by their working folder, which carries its pid: other
    matgrade runs on the machine are not this test's business. A worker whose folder cannot be
    read counts."""
    mark = f"{SCRATCH_PREFIX}{grader_pid}-"

    def folder(pid: int) -> str:
        try:
            return os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return mark

    return [pid for pid in processes_with("grader.worker") if mark in folder(pid)]


def test_a_rerun_renders_newly_asked_outputs_and_merge_carries_them(
    classroom: Path, rubric: Path, full_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "again"
    shutil.copytree(full_run, out)
    before = {p.name: p.read_bytes() for p in out.glob("*.json")}
    result = matgrade(str(classroom), "--rubric", str(rubric), "--out", str(out), "--html",
                      "--format", "gradescope")  # fmt: skip
    assert (
        result.stdout.splitlines()[0]
        == "matgrade: 6 results are up to date (use --force to regrade)"
    )
    assert {p.name: p.read_bytes() for p in out.glob("*.json")} == before  # nothing regraded
    stems = [p.stem for p in out.glob("*.json")]
    assert sorted(p.stem for p in out.glob("*.html")) == sorted(stems)
    assert sorted(p.stem for p in (out / "gradescope").glob("*.json")) == sorted(stems)
    assert {oct(p.stat().st_mode & 0o777) for p in out.glob("*.*")} == {oct(0o666 & ~UMASK)}
    merged = tmp_path / "merged"
    assert matgrade("merge", str(out), "--out", str(merged)).returncode == 0
    assert sorted(p.stem for p in merged.glob("*.html")) == sorted(stems)
    assert sorted(p.stem for p in (merged / "gradescope").glob("*.json")) == sorted(stems)


def test_another_secret_regrades_everyone(
    classroom: Path, rubric: Path, full_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "other-secret"
    shutil.copytree(full_run, out)
    result = run_matgrade(str(classroom), "--rubric", str(rubric), "--out", str(out),
                          cwd=Path.cwd(), secret="another-class-secret")  # fmt: skip
    assert result.returncode == 0 and "up to date" not in result.stdout
    fingerprints = {json.loads(p.read_text())["secret_fingerprint"] for p in out.glob("*.json")}
    original = {json.loads(p.read_text())["secret_fingerprint"] for p in full_run.glob("*.json")}
    assert len(fingerprints) == len(original) == 1 and fingerprints != original


def test_sharding_three_ways_and_merging_equals_one_run(
    classroom: Path, rubric: Path, full_run: Path, tmp_path: Path
) -> None:
    shards = []
    for k in (1, 2, 3):
        shard_out = tmp_path / f"shard{k}"
        result = matgrade(
            str(classroom), "--shard", f"{k}/3", "--rubric", str(rubric), "--out", str(shard_out)
        )
        assert result.returncode == 0, result.stderr
        shards.append(str(shard_out))
    merged = tmp_path / "merged"
    result = matgrade("merge", *shards, "--out", str(merged))
    assert result.returncode == 0, result.stderr
    for name in ("summary.csv", "summary.md"):
        assert (merged / name).read_text() == (full_run / name).read_text()


def test_merge_refuses_duplicates(full_run: Path, tmp_path: Path) -> None:
    result = matgrade("merge", str(full_run), str(full_run), "--out", str(tmp_path / "m"))
    assert result.returncode == 2
    assert result.stderr.startswith("matgrade: error: merge: alice/hw2 is in both ")


def test_merge_refuses_mixed_rubric_versions(full_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    data = json.loads((full_run / "carol.json").read_text())
    data.update(student="zed", rubric_sha256="0" * 64)
    (other / "zed.json").write_text(json.dumps(data))
    result = matgrade("merge", str(full_run), str(other), "--out", str(tmp_path / "m"))
    assert (result.returncode, result.stderr.split(":")[2]) == (2, " merge")
    assert "results of different rubric or grader versions" in result.stderr


def test_single_notebook_gradescope_fail_under_and_step_summary(
    rubric: Path, tmp_path: Path
) -> None:
    notebook = write_notebook(tmp_path / "student.ipynb", ANSWERS["half"])
    summary = tmp_path / "step_summary.md"
    result = matgrade(str(notebook), "--rubric", str(rubric), "--out", str(tmp_path / "o"),
                      "--format", "gradescope", "--fail-under", "2",
                      env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert result.returncode == 4
    assert result.stderr.endswith("matgrade: below --fail-under 2: student (1.5)\n")
    gradescope = json.loads((tmp_path / "o" / "results.json").read_text())
    assert gradescope["score"] == 1.5
    assert [(t["name"].split(":")[0], t["score"], t["max_score"], t["status"]) for t in gradescope["tests"]] == [
        ("p2_grad_eigsum", 1.5, 1.5, "passed"), ("p2_grad_eigprod", 0.0, 1.0, "failed"),
    ]  # fmt: skip
    assert summary.read_text().startswith("# Feedback for student")


def test_example_workflow_is_valid_and_uses_documented_commands() -> None:
    workflow = yaml.safe_load((REPO / "examples" / "github-actions" / "grade.yml").read_text())
    assert set(workflow["jobs"]) == {"grade", "merge"}
    commands = [
        step["run"].replace("${{ matrix.shard }}", "1")
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    invocations = [c.split("matgrade ", 1)[1].split() for c in commands if "bin/matgrade" in c]
    assert len(invocations) == 2
    for words in invocations:
        parser = build_merge_parser() if words[0] == "merge" else build_parser()
        arguments = words[1:] if words[0] == "merge" else words
        parser.parse_args(arguments)
    assert "examples/github-actions/grade.yml" in (REPO / "README.md").read_text()


def test_example_workflow_keeps_a_failing_shards_results() -> None:
    workflow = yaml.safe_load((REPO / "examples" / "github-actions" / "grade.yml").read_text())
    uploads = [
        s for s in workflow["jobs"]["grade"]["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    assert [step.get("if") for step in uploads] == ["always()"]
    assert workflow["jobs"]["merge"].get("if") == "always()"
