"""Gradescope's autograder `results.json`: one test per problem, speed ratios on the
leaderboard (https://gradescope-autograders.readthedocs.io/en/latest/specs/)."""

from __future__ import annotations

import json

from grader.models import GradeResult, ProblemResult
from grader.report.text import markdown_text


def gradescope_json(result: GradeResult) -> str:
    document = {
        "score": result.total,
        "execution_time": round(result.elapsed_s),
        "output": "\n".join(map(markdown_text, result.errors))
        or f"matgrade {result.grader_version}",
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "tests": [_test(problem) for problem in result.problems],
        "leaderboard": [
            {
                "name": f"{problem.id} time / autodiff",
                "value": round(problem.timing.ratio, 3),
                "order": "asc",
            }
            for problem in result.problems
            if problem.timing is not None
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _test(problem: ProblemResult) -> dict[str, object]:
    return {
        "name": f"{problem.id}: {problem.title}" if problem.title else problem.id,
        "score": problem.score,
        "max_score": problem.max_score,
        "status": "passed" if problem.status == "passed" else "failed",
        "output": "\n".join(f"- {markdown_text(line)}" for line in problem.feedback),
        "output_format": "md",
        "visibility": "visible",
    }
