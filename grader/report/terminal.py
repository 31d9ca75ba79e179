"""A short plain-text table of one result for the terminal."""

from __future__ import annotations

from grader.models import GradeResult, ProblemResult


def summary_table(result: GradeResult) -> str:
    header = f"{result.student}: {result.total:g} / {result.max_total:g}"
    if result.status == "invalid":
        return f"{header} (invalid: {'; '.join(result.errors)})"
    width = max((len(p.id) for p in result.problems), default=10)
    lines = [header] + [_row(problem, width) for problem in result.problems]
    return "\n".join(lines)


def _row(problem: ProblemResult, width: int) -> str:
    ratio = f"{problem.timing.ratio:8.3g}x" if problem.timing else " " * 9
    points = f"{problem.score:g}/{problem.max_score:g}"
    function = problem.function or "-"
    return f"  {problem.id:<{width}}  {problem.status:<9} {points:>9} {ratio}  {function}"
