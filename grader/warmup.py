"""Trusted warm-up of the workers' compilation cache, run as `python -m grader.warmup CONFIG`.

Students' un-jitted answers compile every operation at every new shape (~40 ms each, most of a
notebook's grading time). This process, which runs no student code, evaluates each reference
closed form op by op at every rubric shape with the workers' cache folder writable; workers then
read that folder through Landlock, read-only, so no student can poison what the next one loads.
The cache holds single operations only (matmul, inv, det at a shape), never a compiled reference.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from grader.assignment import load_assignment
from grader.inputs import make_case, make_timing_case
from grader.jax_runtime import DEVICE_PLATFORMS, start_jax
from grader.reference_side import ReferenceSide
from grader.rubric import load_rubric

WARMUP_SECRET = b"matgrade-warmup"


def warm(rubric_path: Path, cache: Path, device: str) -> None:
    start_jax(DEVICE_PLATFORMS[device], cache)
    rubric = load_rubric(rubric_path)
    assignment = load_assignment(rubric.reference_path())
    reference = ReferenceSide()
    for problem_id, problem_rubric in rubric.rubric.problems.items():
        problem = assignment.problems[problem_id]
        for family in problem_rubric.cases:
            for index in range(min(family.count, len(family.sizes))):
                case = make_case(WARMUP_SECRET, "warmup", problem, family, index)
                reference.evaluate_eagerly(problem, case.args)
        timing = problem_rubric.timing
        if timing is not None:
            case = make_timing_case(WARMUP_SECRET, "warmup", problem, timing.sizes, 0)
            reference.evaluate_eagerly(problem, case.args)


def main() -> None:
    config = json.loads(sys.argv[1])
    warm(Path(config["rubric"]), Path(config["cache"]), config["device"])
    sys.stdout.flush()
    os._exit(0)  # skips XLA's teardown


if __name__ == "__main__":
    main()
