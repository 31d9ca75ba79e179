"""Renderers of grading results: they read models only and never grade anything."""

from grader.report.files import write_atomic
from grader.report.gradescope import gradescope_json
from grader.report.html import feedback_html
from grader.report.json_report import result_json, schema_json
from grader.report.markdown import feedback_markdown
from grader.report.summary import histogram_png, summary_csv, summary_markdown
from grader.report.terminal import summary_table

__all__ = [
    "feedback_html",
    "feedback_markdown",
    "gradescope_json",
    "histogram_png",
    "result_json",
    "schema_json",
    "summary_csv",
    "summary_markdown",
    "summary_table",
    "write_atomic",
]
