"""Feedback rendering: Markdown and HTML, with student text kept as data."""

from __future__ import annotations

import html5lib
import pytest
from markdown_it import MarkdownIt

from grader.models import GradeResult
from grader.report import feedback_html, feedback_markdown

pytestmark = pytest.mark.slow  # starts workers, timers or JAX


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
