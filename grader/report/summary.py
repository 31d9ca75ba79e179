"""Class summaries: a CSV for spreadsheets and gradebooks, a Markdown overview, a histogram.

All three are sorted by student id and depend only on the results, so grading a class in shards
and merging gives the same files as one run.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from pathlib import Path

from grader.models import GradeResult, ProblemResult
from grader.report.files import write_atomic
from grader.report.text import csv_cell, markdown_text

COMMON_FAILURES_SHOWN = 5


def problem_ids(results: list[GradeResult]) -> list[str]:
    ids: dict[str, None] = {}
    for result in results:
        ids.update(dict.fromkeys(problem.id for problem in result.problems))
    return list(ids)


def summary_csv(results: list[GradeResult]) -> str:
    """One row per student: id, status, total, max, then the points of each problem."""
    ids = problem_ids(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "status", "total", "max_total", *ids])
    for result in sorted(results, key=lambda r: r.student):
        scores = {problem.id: problem.score for problem in result.problems}
        row = [
            csv_cell(result.student),
            result.status,
            f"{result.total:g}",
            f"{result.max_total:g}",
        ]
        writer.writerow(row + [f"{scores[i]:g}" if i in scores else "" for i in ids])
    return buffer.getvalue()


def summary_markdown(results: list[GradeResult]) -> str:
    ordered = sorted(results, key=lambda r: r.student)
    title = ordered[0].assignment_title or ordered[0].assignment if ordered else "matgrade"
    parts = [f"# {title}: class summary", "", _overview(ordered), "", _pass_rates(ordered)]
    sections = (_common_failures(ordered), _timings_to_review(ordered), _written_to_review(ordered))
    for section in sections:
        if section:
            parts += ["", section]
    parts += ["", _student_table(ordered)]
    return "\n".join(parts) + "\n"


def _overview(results: list[GradeResult]) -> str:
    graded = [r for r in results if r.status == "graded"]
    totals = sorted(r.total for r in graded)
    line = f"{len(results)} submissions: {len(graded)} graded"
    for status in ("invalid", "error"):
        if count := _count(results, status):
            line += f", {count} {status}"
    if totals:
        line += f". Median total {statistics.median(totals):.3g} of {graded[0].max_total:g}"
    return line + "."


def _pass_rates(results: list[GradeResult]) -> str:
    rows = [
        "| Problem | Passed | Mean points | Most common status | Written formula agrees |",
        "|---|---|---|---|---|",
    ]
    graded = [r for r in results if r.status == "graded"]
    for problem_id in problem_ids(graded):
        found = [p for r in graded for p in r.problems if p.id == problem_id]
        passed = sum(p.status == "passed" for p in found)
        mean = sum(p.score for p in found) / len(found)
        common = Counter(p.status for p in found).most_common(1)[0][0]
        rows.append(
            f"| {problem_id} | {passed}/{len(found)} | {mean:.2f} | {common} | {_written(found)} |"
        )
    return "\n".join(rows)


def _written(found: list[ProblemResult]) -> str:
    """How many written formulas agree, of those found; n/a when the rubric skips them."""
    checked = [p.written for p in found if p.written is not None]
    if not checked:
        return "n/a"
    agree = sum(w.status == "agrees" for w in checked)
    located = sum(w.status != "not_found" for w in checked)
    return f"{agree}/{located} found" if located else "none found"


def _written_to_review(results: list[GradeResult]) -> str:
    """Written answers with points that could not be checked: the instructor grades them."""
    rows = [
        f"| {markdown_text(result.student)} | {problem.id} | {problem.written.max_score:g} | "
        f"{markdown_text(problem.written.detail[:120])} |"
        for result in results
        for problem in result.problems
        if problem.written is not None and problem.written.review
    ]
    title = "Written answers to grade by hand (their points await review):"
    return _titled_table(title, ["Student", "Problem", "Points", "Why not checked"], rows)


def _common_failures(results: list[GradeResult]) -> str:
    messages = Counter(
        f"{problem.id}: {case.message}"
        for result in results
        for problem in result.problems
        for case in problem.cases[:1]
        if not case.passed and case.message
    )
    if not messages:
        return ""
    lines = ["Most common failure messages:", ""]
    for message, count in messages.most_common(COMMON_FAILURES_SHOWN):
        lines.append(f"- {count} x {markdown_text(message[:160])}")
    return "\n".join(lines)


def _timings_to_review(results: list[GradeResult]) -> str:
    """Timings that stayed disturbed over every attempt: the student kept the best attempt's
    speed points and was told the instructor will review it, never that they cheated."""
    rows = [
        f"| {markdown_text(result.student)} | {problem.id} | {problem.timing.ratio:.3g}x | "
        f"{problem.timing.attempts} | {problem.speed_score:g} |"
        for result in results
        for problem in result.problems
        if problem.timing is not None and problem.timing.review
    ]
    title = "Timings to review (disturbed in every attempt; the best attempt was scored):"
    columns = ["Student", "Problem", "Ratio", "Attempts", "Speed points"]
    return _titled_table(title, columns, rows)


def _titled_table(title: str, columns: list[str], rows: list[str]) -> str:
    """A section of the summary: nothing when there are no rows."""
    if not rows:
        return ""
    header = [title, "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    return "\n".join(header + rows)


def _student_table(results: list[GradeResult]) -> str:
    ids = problem_ids(results)
    rows = ["| Student | Total | " + " | ".join(ids) + " |", "|---" * (len(ids) + 2) + "|"]
    for result in results:
        statuses = {problem.id: problem.status for problem in result.problems}
        cells = [statuses.get(i, result.status) for i in ids]
        student = markdown_text(result.student)
        rows.append(f"| {student} | {result.total:g} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def histogram_png(results: list[GradeResult], path: Path) -> None:
    """A histogram of the totals of graded submissions (matplotlib, Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    graded = [r for r in results if r.status == "graded"]
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    maximum = graded[0].max_total if graded else 1.0
    axes.hist([r.total for r in graded], bins=12, range=(0, maximum), color="#4C72B0")
    axes.set_xlabel("total points")
    axes.set_ylabel("students")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(_histogram_title(results))
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png")
    plt.close(figure)
    write_atomic(path, image.getvalue())


def _histogram_title(results: list[GradeResult]) -> str:
    graded = [r for r in results if r.status == "graded"]
    title = f"{results[0].assignment if results else 'matgrade'}: {len(graded)} graded"
    if graded:
        title += f", median {statistics.median(r.total for r in graded):.3g}"
    others = [f"{n} {status}" for status in ("invalid", "error") if (n := _count(results, status))]
    return title + ("; " + ", ".join(others) if others else "")


def _count(results: list[GradeResult], status: str) -> int:
    return sum(result.status == status for result in results)
