"""Where a batch's time goes: runs `matgrade ARGS...` in this process with the grading phases
wrapped in clocks, then prints each phase's total wall time (summed over threads: with -j 2, two
gradings run at once) and the process's own CPU time next to its children's. With `--pairs FILE`
first, it also writes every timing phase's pairs of rounds (fastest student and baseline call, in
us) as JSON lines, to see how a phase's rounds spread.

Usage: python benchmarks/phases.py [--pairs FILE] FOLDER -j 2 --out OUT [other matgrade options]
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import grader.pipeline as pipeline
import grader.timer as timer
import grader.timing as timing
from grader.cli import main as matgrade

PHASES = [
    (pipeline.StudentRun, "grade_all", "one notebook's grading (all phases below)"),
    (pipeline.StudentRun, "_check_all", "  correctness checks (waits for the worker)"),
    (pipeline.WorkerSession, "ensure", "    worker start and load, when waited for"),
    (pipeline.StudentRun, "time", "  timing, one problem at a time"),
    (timer.TrustedTimer, "student", "    student rounds (with their echo and spot checks)"),
    (timer.TrustedTimer, "baseline", "    baseline rounds"),
]
seconds: defaultdict[str, float] = defaultdict(float)
calls: Counter[str] = Counter()
lock = threading.Lock()
phase = threading.local()  # which student and problem this thread is timing


def recording_pairs(path: str) -> None:
    def time_problem(run: pipeline.StudentRun, problem: Any, *args: Any) -> Any:
        phase.context = {"student": run.student, "problem": problem.id, "cpu": run.session.lane.cpu}
        return timed(run, problem, *args)

    def quietest(pairs: list[timing.Pair], count: int) -> list[timing.Pair]:
        rounds = [[p.student_s * 1e6, p.baseline_s * 1e6] for p in pairs]
        with lock, open(path, "a") as lines:
            lines.write(json.dumps({**phase.context, "pairs": rounds}) + "\n")
        return chosen(pairs, count)

    timed, chosen = pipeline.StudentRun.time, timing.quietest
    pipeline.StudentRun.time = time_problem  # type: ignore[method-assign,assignment]
    timing.quietest = quietest


def clocked(function: Callable[..., Any], label: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            with lock:
                seconds[label] += time.perf_counter() - start
                calls[label] += 1

    return wrapper


def main() -> None:
    if sys.argv[1:2] == ["--pairs"]:
        recording_pairs(sys.argv[2])
        del sys.argv[1:3]
    for owner, name, label in PHASES:
        setattr(owner, name, clocked(getattr(owner, name), label))
    start = time.perf_counter()
    code = matgrade(sys.argv[1:])
    wall = time.perf_counter() - start
    notebooks = max(calls[PHASES[0][2]], 1)
    print(f"matgrade exited with {code} after {wall:.1f} s; {notebooks} notebooks graded")
    for _, _, label in PHASES:
        print(f"{label:46} {seconds[label]:7.1f} s  {seconds[label] / notebooks:6.2f} s/notebook")
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"CPU: the grader's process {own.ru_utime + own.ru_stime:.1f} s, "
          f"its reaped children {children.ru_utime + children.ru_stime:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
