"""A short plain-text table of one result for the terminal: the student's strings (id, errors,
function names) on one line each, without control characters (see grader.report.text)."""

from __future__ import annotations

from grader.models import GradeResult, ProblemResult
from grader.report.text import one_line


def summary_table(result: GradeResult) -> str:
    header = f"{one_line(result.student)}: {result.total:g} / {result.max_total:g}"
    if result.status == "invalid":
        return f"{header} (invalid: {one_line('; '.join(result.errors))})"
    width = max((len(p.id) for p in result.problems), default=10)
    lines = [header] + [_row(problem, width) for problem in result.problems]
    lines += [f"  note: {notice}" for notice in result.notices]
    return "\n".join(lines)


def _row(problem: ProblemResult, width: int) -> str:
    ratio = f"{problem.timing.ratio:8.3g}x" if problem.timing else " " * 9
    points = f"{problem.score:g}/{problem.max_score:g}"
    function = one_line(problem.function or "-")
    return f"  {problem.id:<{width}}  {problem.status:<9} {points:>9} {ratio}  {function}"
