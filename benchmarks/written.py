"""What checking the written derivations adds to a grading: the time of locating, parsing and
evaluating every problem's final formula (`read_derivations` + `judge_derivations`), side by
side with the time of grading the same notebook's code (`Grader.measure`), medians of --repeats.

Usage: python benchmarks/written.py [--repeats 5] [NOTEBOOK ...]
(default: the seed and the good and mistakes examples)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from grader.derivations import judge_derivations, read_derivations
from grader.inputs import Secret
from grader.notebook import code_cells, extract, parse_notebook, read_submission
from grader.pipeline import GradeOptions, Grader
from grader.rubric import default_rubric_path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "submissions_example"
DEFAULT = [EXAMPLES / name for name in ("seed_homework.ipynb", "good.ipynb", "mistakes.ipynb")]
SECRET = b"written-benchmark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    grader = Grader(GradeOptions(default_rubric_path(), Secret(SECRET, hidden=True)))
    try:
        for path in args.notebooks:
            report(grader, path, args.repeats)
    finally:
        grader.close()


def report(grader: Grader, path: Path, repeats: int) -> None:
    notebook = parse_notebook(read_submission(path))
    extraction = extract(code_cells(notebook))
    grading, written = [], []
    for repeat in range(repeats):
        started = time.perf_counter()
        graded = grader.measure(path, f"student{repeat}")
        grading.append(time.perf_counter() - started)
        started = time.perf_counter()
        derivations = read_derivations(notebook, extraction, graded.measurements)
        verdicts = judge_derivations(
            derivations,
            grader.rubric.rubric.problems,
            grader.assignment.problems,
            grader.reference,
            SECRET,
            f"student{repeat}",
        )
        written.append(time.perf_counter() - started)
    statuses = ", ".join(f"{pid}={v.status}" for pid, v in verdicts.items())
    code, formulas = statistics.median(grading), statistics.median(written)
    print(
        f"{path.name}: grading {code:.2f} s, written answers {formulas * 1e3:.1f} ms "
        f"({formulas / code:.2%} of grading), median of {repeats}\n  {statuses}"
    )


if __name__ == "__main__":
    main()
