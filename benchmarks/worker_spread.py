"""How much a timed call's round trip moves from one worker process to the next: the same
vectorised grad_u answer (hw2, n=300, k=100) in fresh workers, each timed by one trusted timer
over several rounds; prints each worker's fastest round trip and the echo's.

Usage: python benchmarks/worker_spread.py [--workers 5] [--rounds 12]
"""

from __future__ import annotations

import argparse
import os

from grader.rubric import default_rubric_path, load_rubric
from grader.sandbox import WorkerConfig, start_worker
from grader.trusted_timer import StudentRoundSpec, TrustedTimer

SOURCE = "def grad_u(U, V, Y, lambd):\n    return 2 * (U @ V - Y) @ V.T + lambd * U\n"
SIZES = {"n": 300, "k": 100}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=12)
    options = parser.parse_args()
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # one lane: timer and workers on one core
    timer = TrustedTimer(load_rubric(default_rubric_path()).reference_path(), "cpu", cpu)
    try:
        for number in range(options.workers):
            worker = start_worker(WorkerConfig())
            chunk = {"cell": 0, "line": 1, "source": SOURCE, "is_import": False}
            worker.request({"op": "load", "chunks": [chunk]}, [], 60)
            trips, echoes = [], []
            for index in range(options.rounds):
                key = bytes([index, number]) * 16
                spec = StudentRoundSpec("p1_grad_u", "grad_u", SIZES, key, 13, 10, 4096, 1e-10, 0)
                calls = timer.student(spec, (worker.request_fd, worker.reply_fd))
                trips.append(min(calls.times))
                echoes.append(min(calls.echo_times))
            worker.kill()
            print(
                f"worker {number}: fastest round trip {min(trips[2:]) * 1e6:.0f} us, "
                f"echo {min(echoes) * 1e6:.0f} us"
            )
    finally:
        timer.close()


if __name__ == "__main__":
    main()
