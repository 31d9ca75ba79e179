"""Check a rubric against its reference module before anything is graded."""

from __future__ import annotations

from grader.assignment import Assignment
from grader.errors import RubricError
from grader.rubric import LoadedRubric


def check_consistency(rubric: LoadedRubric, assignment: Assignment) -> None:
    """Every rubric problem exists in the reference and every size symbol is given."""
    for problem_id, problem_rubric in rubric.rubric.problems.items():
        if problem_id not in assignment.problems:
            known = ", ".join(assignment.problems)
            raise RubricError(rubric.path, f"problems.{problem_id}: not in the reference ({known})")
        needed = assignment.problems[problem_id].symbols()
        if problem_rubric.points.speed > 0 and problem_rubric.timing is None:
            raise RubricError(
                rubric.path, f"problems.{problem_id}: points.speed > 0 needs a timing section"
            )
        for family in problem_rubric.cases:
            _check_sizes(rubric, f"problems.{problem_id}.cases.{family.name}", family.sizes, needed)
        if problem_rubric.timing is not None:
            where = f"problems.{problem_id}.timing.sizes"
            _check_sizes(rubric, where, [problem_rubric.timing.sizes], needed)


def _check_sizes(
    rubric: LoadedRubric, where: str, sizes: list[dict[str, int]], needed: set[str]
) -> None:
    for entry in sizes:
        missing, unknown = needed - set(entry), set(entry) - needed
        if missing:
            raise RubricError(rubric.path, f"{where}: sizes lack {', '.join(sorted(missing))}")
        if unknown:
            expected = ", ".join(sorted(needed))
            raise RubricError(
                rubric.path, f"{where}: unknown size {', '.join(sorted(unknown))} (uses {expected})"
            )
        if any(value < 1 for value in entry.values()):
            raise RubricError(rubric.path, f"{where}: sizes must be positive, got {entry}")
