"""The Markdown feedback rendered to a standalone HTML page for upload to an LMS.

Raw HTML in the Markdown is not passed through: student output and exception text stay text,
so a student cannot inject markup or scripts into the page their instructor opens.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

from grader.models import GradeResult
from grader.report.markdown import feedback_markdown
from grader.report.text import one_line

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5}table{border-collapse:collapse}th,td{border:1px solid #ccc;"
    "padding:.25rem .5rem}pre{background:#f6f8fa;padding:.5rem;overflow-x:auto}"
)


def feedback_html(result: GradeResult) -> str:
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = renderer.render(feedback_markdown(result))
    title = html.escape(f"Feedback for {one_line(result.student)}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
