"""--feedback-notebook: the student's own notebook with feedback cells, valid for nbformat and
rendered to HTML by nbconvert without running it or its scripts."""

from __future__ import annotations

from pathlib import Path

import html5lib
import nbformat
import pytest
from helpers import REPO, run_matgrade

from grader.models import GradeResult, ProblemResult, WrittenAnswer
from grader.report.notebook import FEEDBACK_TAG, feedback_notebook, notebook_html, notebook_json

SEED = REPO / "submissions_example" / "seed_homework.ipynb"
XHTML = "{http://www.w3.org/1999/xhtml}"


def problem(pid: str, cell: int | None, written_cell: int | None = None) -> ProblemResult:
    written = None
    if written_cell is not None:
        written = WrittenAnswer(status="agrees", formula="2U", cell=written_cell)
    return ProblemResult(
        id=pid, function="f" if cell is not None else None, status="passed", correct=True,
        score=1.0, max_score=1.0, cell=cell, written=written,
        feedback=["Correct on every hidden case.", "Your written formula (2U, cell 1) agrees."],
    )  # fmt: skip


def result(*problems: ProblemResult) -> GradeResult:
    return GradeResult(
        grader_version="test", submission="s.ipynb", student="s", assignment="hw",
        status="graded", total=1.0, max_total=1.0, problems=list(problems),
    )  # fmt: skip


def hostile_notebook() -> nbformat.NotebookNode:
    html = nbformat.v4.new_output(
        "display_data", data={"text/html": "<b>plot</b><script>alert('output')</script>"}
    )
    javascript = nbformat.v4.new_output(
        "display_data", data={"application/javascript": "alert('javascript output')"}
    )
    fake = nbformat.v4.new_markdown_cell(
        "**matgrade feedback**: full marks", metadata={"matgrade": {"feedback": "summary"},
                                                       "tags": [FEEDBACK_TAG, "mine"]}
    )  # fmt: skip
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("$\\nabla_U J = 2U$ <script>alert('markdown')</script>"),
            nbformat.v4.new_code_cell("def f(U):\n    return 2 * U", outputs=[html, javascript]),
            fake,
        ]
    )


def test_feedback_cells_follow_the_function_and_the_formula_and_a_summary_leads() -> None:
    notebook = feedback_notebook(
        hostile_notebook(), result(problem("p1", 1, written_cell=0), problem("p2", None))
    )
    kinds = [cell.metadata.get("matgrade", {}).get("feedback") for cell in notebook.cells]
    assert kinds == ["summary", None, "p1", None, "p1", None]
    assert "Not found in this notebook" in notebook.cells[0].source
    nbformat.validate(notebook)


def test_the_students_own_cells_lose_matgrades_marks() -> None:
    notebook = feedback_notebook(hostile_notebook(), result(problem("p1", 1)))
    student_cell = notebook.cells[-1]
    assert "matgrade" not in student_cell.metadata
    assert student_cell.metadata["tags"] == ["mine"]


def test_the_html_shows_no_script_of_the_students() -> None:
    page = notebook_html(feedback_notebook(hostile_notebook(), result(problem("p1", 1))))
    assert "<script>alert" not in page
    assert "alert('javascript output')" not in page
    assert "<b>plot</b>" in page
    assert "<p><strong>matgrade feedback</strong></p>" in page  # Markdown renders as HTML


def test_the_notebook_is_not_changed_in_place() -> None:
    original = hostile_notebook()
    before = nbformat.writes(original)
    notebook_json(feedback_notebook(original, result(problem("p1", 1))))
    assert nbformat.writes(original) == before


@pytest.mark.slow
def test_cli_writes_a_valid_feedback_notebook_and_html_with_every_feedback_cell(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    completed = run_matgrade(str(SEED), "--out", str(out), "--feedback-notebook", secret="nb")
    assert completed.returncode == 0, completed.stderr
    notebook = nbformat.read(out / "seed_homework.feedback.ipynb", as_version=4)
    nbformat.validate(notebook)
    feedback = {c.id for c in notebook.cells if c.metadata.get("matgrade")}
    assert len(feedback) >= 9  # a summary, six graded functions and three checked formulas
    original = nbformat.read(SEED, as_version=4)
    kept = [c for c in notebook.cells if not c.metadata.get("matgrade")]
    assert [c.source for c in kept] == [c.source for c in original.cells]
    assert [c.get("outputs") for c in kept] == [c.get("outputs") for c in original.cells]

    tree = html5lib.parse((out / "seed_homework.feedback.html").read_text())
    shown = {
        cell.get("id", "").removeprefix("cell-id=")
        for cell in tree.iter(f"{XHTML}div")
        if cell.get("id", "").startswith("cell-id=")
        and any(
            f"celltag_{FEEDBACK_TAG}" in inner.get("class", "").split()
            for inner in cell.iter(f"{XHTML}div")
        )
        and "matgrade feedback" in "".join(cell.itertext())
    }
    assert shown == feedback


@pytest.mark.slow
def test_a_rerun_with_the_option_added_writes_the_feedback_notebook_without_grading_again(
    tmp_path: Path,
) -> None:
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    (folder / "ann.ipynb").write_bytes((REPO / "submissions_example" / "good.ipynb").read_bytes())
    first = run_matgrade(str(folder), "--out", str(out), "-j", "1", secret="nb")
    assert first.returncode == 0, first.stderr
    assert not (out / "ann.feedback.ipynb").exists()
    graded = (out / "ann.json").read_text()
    again = run_matgrade(
        str(folder), "--out", str(out), "-j", "1", "--feedback-notebook", secret="nb"
    )
    assert again.returncode == 0, again.stderr
    assert (out / "ann.json").read_text() == graded  # kept, not graded again
    nbformat.validate(nbformat.read(out / "ann.feedback.ipynb", as_version=4))
    assert "matgrade feedback" in (out / "ann.feedback.html").read_text()


def test_widget_state_bad_ids_and_student_classes_do_not_reach_the_page() -> None:
    notebook = hostile_notebook()
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2}}
    notebook.cells[1].outputs.append(nbformat.v4.new_output("display_data", data=widget))
    notebook.cells[0]["id"] = "not a valid id"
    notebook.cells[2]["id"] = notebook.cells[1]["id"]
    notebook.cells[2].source = '<div class="celltag_matgrade-feedback">forged</div>'
    marked = feedback_notebook(notebook, result(problem("p1", 1)))
    notebook_json(marked)  # validates: the ids were replaced
    page = notebook_html(marked)
    assert "widget-state" not in page and "widget-view" not in page and "unpkg" not in page
    assert '<div class="celltag_matgrade-feedback">forged' not in page
    assert f".celltag_{FEEDBACK_TAG}::before" in page  # matgrade's cells are marked by style
