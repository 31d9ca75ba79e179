"""Write what a grading run produces: per student JSON, Markdown and the optional HTML and
Gradescope files, the class summaries, and GitHub Actions' step summary."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.errors import InvalidNotebook
from grader.models import GradeResult
from grader.notebook import parse_notebook, read_submission
from grader.report import (
    feedback_html,
    feedback_markdown,
    gradescope_json,
    histogram_png,
    result_json,
    summary_csv,
    summary_markdown,
    write_atomic,
)
from grader.report.notebook import feedback_notebook, notebook_html, notebook_json


@dataclass(frozen=True)
class OutputOptions:
    out: Path
    html: bool = False
    gradescope: bool = False
    # One notebook named on its own: Gradescope's results.json goes at the top of `out`.
    single: bool = False
    feedback_notebook: bool = False


Render = Callable[[GradeResult], str]


def student_files(options: OutputOptions, stem: str) -> dict[Path, Render]:
    """Each file written per student, and how it is rendered from the result."""
    out = options.out
    files: dict[Path, Render] = {
        out / f"{stem}.json": result_json,
        out / f"{stem}.md": feedback_markdown,
    }
    if options.html:
        files[out / f"{stem}.html"] = feedback_html
    if options.gradescope:
        target = out / "results.json" if options.single else out / "gradescope" / f"{stem}.json"
        files[target] = gradescope_json
    return files


def write_student_files(options: OutputOptions, stem: str, result: GradeResult) -> None:
    for path, render in student_files(options, stem).items():
        write_atomic(path, render(result))
    if options.feedback_notebook:
        write_feedback_notebook(options.out, stem, result)


def feedback_notebook_paths(out: Path, stem: str) -> tuple[Path, Path]:
    return out / f"{stem}.feedback.ipynb", out / f"{stem}.feedback.html"


def write_feedback_notebook(out: Path, stem: str, result: GradeResult) -> bool:
    """The student's notebook with the feedback in it, and its HTML; False (nothing written)
    when the notebook no longer is what was graded or could not be graded at all."""
    if result.status != "graded":
        return False
    try:
        data = read_submission(Path(result.submission))
    except InvalidNotebook:
        return False
    if hashlib.sha256(data).hexdigest() != result.notebook_sha256:
        return False
    notebook = feedback_notebook(parse_notebook(data), result)
    try:
        text = notebook_json(notebook)
    except nbformat.ValidationError:  # the student's notebook breaks the format elsewhere
        return False
    ipynb, page = feedback_notebook_paths(out, stem)
    write_atomic(ipynb, text)
    write_atomic(page, notebook_html(notebook))
    return True


def write_missing_files(options: OutputOptions, stem: str) -> None:
    """For a result graded earlier: the files asked for now that it lacks (`--html` added on a
    rerun, say), rendered from the stored result without grading again."""
    missing = {p: r for p, r in student_files(options, stem).items() if not p.exists()}
    notebook_missing = options.feedback_notebook and not all(
        path.exists() for path in feedback_notebook_paths(options.out, stem)
    )
    if missing or notebook_missing:
        (stored,) = load_results([options.out / f"{stem}.json"])
        for path, render in missing.items():
            write_atomic(path, render(stored))
        if notebook_missing:
            write_feedback_notebook(options.out, stem, stored)


def load_results(paths: Iterable[Path]) -> list[GradeResult]:
    """The results stored at `paths` (those that exist): a summary covers earlier runs too."""
    return [GradeResult.model_validate_json(path.read_text()) for path in paths if path.exists()]


def write_summaries(out: Path, results: list[GradeResult]) -> None:
    if not results:
        return
    write_atomic(out / "summary.csv", summary_csv(results))
    write_atomic(out / "summary.md", summary_markdown(results))
    histogram_png(results, out / "summary.png")


def append_step_summary(results: list[GradeResult], single: bool) -> None:
    """In GitHub Actions, the summary table (or the one student's feedback) also appears on the
    run's page."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target or not results:
        return
    text = feedback_markdown(results[0]) if single else summary_markdown(results)
    with open(target, "a", encoding="utf-8") as stream:
        stream.write(text + "\n")
