"""Where a batch's time goes: grades a folder through the library API with a listener on its
events (grader.events), then prints each phase's total wall time (summed over threads: with
-j 2, two gradings run at once) and per notebook, and the process's own CPU time next to its
children's. With `--pairs FILE` it also writes every timing attempt's pairs of rounds (fastest
student and baseline call, in us) as JSON lines, to see how a phase's rounds spread.

Usage: python benchmarks/phases.py FOLDER [-j 2] [--out OUT] [--rubric FILE] [--pairs FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from grader import (
    Event,
    GradeOptions,
    Grader,
    OutputOptions,
    PhaseEvent,
    discover,
    grade_submissions,
    load_rubric,
    load_secret,
)
from grader.rubric import default_rubric_path

LABELS = {
    "grading": "one notebook's grading (all phases below)",
    "checks": "  correctness checks (worker start and load included)",
    "timing": "  timing, one attempt at one problem at a time",
}


class Recorder:
    def __init__(self, pairs: Path | None) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.count: Counter[str] = Counter()
        self.pairs = pairs
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, PhaseEvent):
                self.seconds[event.phase] += event.seconds
                self.count[event.phase] += 1
            elif self.pairs is not None:
                rounds = [[s * 1e6, b * 1e6] for s, b in event.outcome.pairs]
                record = {"student": event.submission, "problem": event.problem, "pairs": rounds}
                with self.pairs.open("a") as lines:
                    lines.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--rubric", type=Path, default=None)
    parser.add_argument("--pairs", type=Path, default=None)
    args = parser.parse_args()
    recorder = Recorder(args.pairs)
    rubric = args.rubric or default_rubric_path()
    load_rubric(rubric)  # a bad rubric fails here, before any worker starts
    options = GradeOptions(rubric_path=rubric, secret=load_secret(None), listener=recorder)
    out = args.out or Path(tempfile.mkdtemp(prefix="phases-"))
    start = time.perf_counter()
    grader = Grader(options)
    try:
        results = grade_submissions(grader, discover([args.folder]), args.jobs, OutputOptions(out))
    finally:
        grader.close()
    report(recorder, len(results), time.perf_counter() - start)


def report(recorder: Recorder, graded: int, wall: float) -> None:
    notebooks = max(recorder.count["grading"], 1)
    print(f"{graded} results after {wall:.1f} s; {notebooks} notebooks graded in this run")
    for phase, label in LABELS.items():
        total = recorder.seconds[phase]
        print(f"{label:54} {total:7.1f} s  {total / notebooks:6.2f} s/notebook")
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"CPU: the grader's process {own.ru_utime + own.ru_stime:.1f} s, "
          f"its reaped children {children.ru_utime + children.ru_stime:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
