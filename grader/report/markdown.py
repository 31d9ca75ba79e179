"""Markdown feedback for the student: total, a table per problem, then what to fix.

Hidden input values never appear here: only sizes, errors, messages and the student's own
output. Whatever may quote the student's text (their id, feedback lines, errors) is escaped as
literal text, and their output and notes stand in code blocks (see grader.report.text).
"""

from __future__ import annotations

from grader.models import CaseResult, ExtractionNote, GradeResult, ProblemResult
from grader.report.text import markdown_text, one_line, terminal_text

STATUS_LABELS = {
    "passed": "passed",
    "partial": "partly correct",
    "wrong": "wrong",
    "error": "raised an error",
    "timeout": "timed out",
    "missing": "not found",
    "forbidden": "not allowed",
}
OUTPUT_SHOWN = 1500
FOUND = {
    "name": "found by its name",
    "behaviour": "found by its behaviour",
    "closest": "no function matched by name or behaviour: graded as the closest match, by the "
    "arguments it takes, the shape it returns and its name",
}


def feedback_markdown(result: GradeResult) -> str:
    parts = [header(result)]
    if result.status == "invalid":
        parts.append("This submission could not be graded:\n\n" + _bullets(result.errors))
        return "\n\n".join(parts) + "\n"
    parts.append(problem_table(result.problems))
    parts += [problem_section(problem) for problem in result.problems]
    if result.extraction:
        parts.append(_notes_section(result.extraction))
    return "\n\n".join(parts) + "\n"


def header(result: GradeResult) -> str:
    title = result.assignment_title or result.assignment
    lines = [
        f"# Feedback for {markdown_text(result.student)}",
        "",
        f"**{title}**: **{result.total:g} / {result.max_total:g} points**",
    ]
    if not result.inputs_hidden:
        lines += ["", "> Graded with the public default secret: these inputs are not hidden."]
    lines += [line for notice in result.notices for line in ("", f"> **{notice}**")]
    return "\n".join(lines)


def problem_table(problems: list[ProblemResult]) -> str:
    rows = [
        "| Problem | Status | Points | Largest error | Speed vs autodiff | Written formula |",
        "|---|---|---|---|---|---|",
    ]
    for problem in problems:
        rows.append(
            f"| {problem.id} | {STATUS_LABELS[problem.status]} | "
            f"{problem.score:g} / {problem.max_score:g} | {_largest_error(problem.cases)} | "
            f"{_ratio(problem)} | {_written(problem)} |"
        )
    return "\n".join(rows)


WRITTEN_LABELS = {
    "agrees": "agrees",
    "disagrees": "disagrees",
    "not_checked": "not checked",
    "not_found": "not found",
}


def _written(problem: ProblemResult) -> str:
    return WRITTEN_LABELS[problem.written.status] if problem.written else "n/a"


def _largest_error(cases: list[CaseResult]) -> str:
    errors = [case.rel_error for case in cases if case.rel_error is not None]
    if len(errors) != len(cases) or not errors:
        return "n/a" if not errors else f"{max(errors):.1e} (some not comparable)"
    return f"{max(errors):.1e}"


def _ratio(problem: ProblemResult) -> str:
    return f"{problem.timing.ratio:.3g}x" if problem.timing else "not timed"


def problem_section(problem: ProblemResult) -> str:
    lines = [f"## {problem.id}: {problem.title}" if problem.title else f"## {problem.id}", ""]
    if problem.function:
        how = FOUND[problem.matched_by or "name"]
        lines.append(f"Graded function: {_code_span(problem.function)} ({how}).")
        lines.append(f"Checked on {_checked(problem.cases)}.")
        lines.append("")
    lines.append(_bullets(problem.feedback))
    if problem.output:
        lines += ["", "Your function printed:", "", _code_block(problem.output[:OUTPUT_SHOWN])]
    return "\n".join(lines)


def _checked(cases: list[CaseResult]) -> str:
    families: dict[str, list[CaseResult]] = {}
    for case in cases:
        families.setdefault(case.family, []).append(case)
    parts = []
    for family, members in families.items():
        passed = sum(case.passed for case in members)
        parts.append(f"{len(members)} hidden '{family}' inputs ({passed} passed)")
    return ", ".join(parts) if parts else "no inputs"


def _notes_section(notes: list[ExtractionNote]) -> str:
    lines = ["## Notes on your notebook", ""]
    for note in notes:
        where = f"code cell {note.cell + 1}" if note.cell is not None else "notebook"
        lines.append(f"- {where} ({note.kind.replace('_', ' ')}):")
        lines += ["", _indent(_code_block(note.message)), ""]
    return "\n".join(lines).rstrip()


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {markdown_text(item)}" for item in items)


def _code_block(text: str) -> str:
    text = terminal_text(text)
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def _code_span(text: str) -> str:
    """Inside a code span nothing is markup; a backtick would end it."""
    return "`" + one_line(text).replace("`", "'") + "`"


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())
