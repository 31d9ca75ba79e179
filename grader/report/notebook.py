"""The student's own notebook with the feedback in it: a summary cell at the top, and a cell
after each graded function's cell and after each checked formula's cell. Rendered to HTML with
nbconvert. The notebook is never executed; the student's cells and outputs stay as they were.

Feedback cells carry `metadata.matgrade.feedback` (the problem id, or "summary") and the tag
`matgrade-feedback`; the same marks on the student's own cells are removed first, so that only
matgrade's cells carry them.
"""

from __future__ import annotations

import copy
import functools
import re
import uuid
from typing import Any

import nbformat

from grader.models import GradeResult, ProblemResult
from grader.report.markdown import header, problem_section, problem_table
from grader.report.text import markdown_text

FEEDBACK_TAG = "matgrade-feedback"
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # nbformat 4.5's rule
# Only matgrade's cells carry the tag, whose class the template puts on the cell and which a
# student's Markdown cannot (class attributes are not kept): what marks real feedback.
FEEDBACK_STYLE = (
    f"<style>.celltag_{FEEDBACK_TAG}{{border-left:.4rem solid #1f6feb;background:#eef5ff;"
    f"padding-left:.75rem}}.celltag_{FEEDBACK_TAG}::before{{content:'matgrade feedback';"
    "font:600 .8rem system-ui,sans-serif;color:#1f6feb}</style>"
)
WRITTEN_STATUS = {
    "agrees": "agrees with the reference",
    "disagrees": "does not agree with the reference",
    "not_checked": "was not checked automatically",
    "not_found": "was not found",
}


def feedback_notebook(
    notebook: nbformat.NotebookNode, result: GradeResult
) -> nbformat.NotebookNode:
    """A copy of `notebook` with matgrade's feedback cells added."""
    marked = copy.deepcopy(notebook)
    # Widget state is rendered as given, past the sanitiser: it is dropped.
    marked.metadata.pop("widgets", None)
    # Cell ids (format 4.5) for every cell, as the new ones have them; a missing, malformed or
    # repeated id of the student's is replaced, so that the notebook validates.
    marked.nbformat, marked.nbformat_minor = 4, max(int(marked.get("nbformat_minor", 0)), 5)
    taken: set[Any] = set()
    for cell in marked.cells:
        _unmark(cell)
        _drop_widgets(cell)
        identifier = cell.get("id")
        if not isinstance(identifier, str) or not CELL_ID.match(identifier) or identifier in taken:
            cell["id"] = _new_id(taken | {c.get("id") for c in marked.cells})
        taken.add(cell["id"])
    after: dict[int, list[nbformat.NotebookNode]] = {}
    count = len(marked.cells)
    for problem in result.problems:
        if problem.cell is not None and problem.cell < count:
            after.setdefault(problem.cell, []).append(_cell(problem.id, problem_section(problem)))
        placed = problem.written.cell if problem.written else None
        if placed is not None and placed != problem.cell and placed < count:
            after.setdefault(placed, []).append(_cell(problem.id, _written(problem)))
    cells = [_cell("summary", _summary(result))]
    for index, cell in enumerate(marked.cells):
        cells += [cell, *after.get(index, [])]
    marked.cells = cells
    return marked


def _drop_widgets(cell: nbformat.NotebookNode) -> None:
    """Widget views go; an output left with nothing to show goes with them."""
    if "outputs" not in cell:
        return
    kept = []
    for output in cell.outputs:
        data = output.get("data")
        if isinstance(data, dict):
            for kind in [k for k in data if "jupyter.widget" in k]:
                del data[kind]
            if not data:
                continue
        kept.append(output)
    cell.outputs = kept


def _new_id(taken: set[Any]) -> str:
    while True:
        candidate = uuid.uuid4().hex[:8]
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _unmark(cell: nbformat.NotebookNode) -> None:
    metadata = cell.get("metadata", {})
    metadata.pop("matgrade", None)
    tags = metadata.get("tags")
    if isinstance(tags, list):
        metadata["tags"] = [tag for tag in tags if tag != FEEDBACK_TAG]


def _cell(problem: str, text: str) -> nbformat.NotebookNode:
    banner = "> **matgrade feedback**\n\n"
    metadata = {"matgrade": {"feedback": problem}, "tags": [FEEDBACK_TAG]}
    cell: nbformat.NotebookNode = nbformat.v4.new_markdown_cell(banner + text, metadata=metadata)
    return cell


def _summary(result: GradeResult) -> str:
    parts = [header(result), problem_table(result.problems)]
    missing = [p.id for p in result.problems if p.cell is None]
    if missing:
        parts.append(
            "Not found in this notebook, so their feedback is here: " + ", ".join(missing) + "."
        )
        parts += [problem_section(p) for p in result.problems if p.cell is None]
    return "\n\n".join(parts)


def _written(problem: ProblemResult) -> str:
    assert problem.written is not None
    written = problem.written
    lines = [f"**{problem.id}**: your written formula {WRITTEN_STATUS[written.status]}."]
    lines += [f"- {markdown_text(line)}" for line in problem.feedback if "written formula" in line]
    return "\n".join(lines)


def notebook_json(notebook: nbformat.NotebookNode) -> str:
    nbformat.validate(notebook)
    return str(nbformat.writes(notebook))


# What the student's Markdown and outputs may keep: text structure, tables and inline images;
# no script, style, form, frame or remote resource (an <img> only with a data: URI).
SAFE_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "del",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("title", "alt"):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "#"))
    return tag == "img" and name == "src" and value.startswith("data:image/")


def clean_html(element: object) -> str:
    """nbconvert's sanitising filter with a fuller list of harmless tags (its default escapes
    paragraphs and headings into visible text)."""
    import bleach

    text = element.decode() if isinstance(element, bytes) else str(element)
    protocols = ["http", "https", "data"]
    return str(
        bleach.clean(text, tags=SAFE_TAGS, attributes=_allowed_attribute, protocols=protocols)
    )


@functools.cache
def _exporter() -> Any:
    from nbconvert import HTMLExporter

    # Sanitised: the student's Markdown and outputs are shown, their scripts and raw HTML are
    # not, so the page is safe for the instructor who opens it.
    return HTMLExporter(  # type: ignore[no-untyped-call]
        sanitize_html=True, exclude_input_prompt=True, filters={"clean_html": clean_html}
    )


def notebook_html(notebook: nbformat.NotebookNode) -> str:
    body, _resources = _exporter().from_notebook_node(notebook)
    return str(body).replace("</head>", FEEDBACK_STYLE + "\n</head>", 1)
