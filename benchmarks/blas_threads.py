"""What a threaded BLAS costs the grader's comparisons while another core is busy (as the other
lane's is during a -j 2 batch): the time of a norm over 30,000 entries from a thread pinned to
core 0, with a busy loop on core 1, with OpenBLAS's default threads and limited to one.

Usage: python benchmarks/blas_threads.py [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

BUSY_LOOP = "while True: pass"


def norm_times(calls: int) -> list[float]:
    values = np.random.default_rng(0).standard_normal(300 * 100)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        np.linalg.norm(values)
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> None:
    mean, median = statistics.mean(times), statistics.median(times)
    print(f"{label:28} mean {mean * 1e6:8.1f} us, median {median * 1e6:6.1f} us, "
          f"max {max(times) * 1e3:6.2f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    busy = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(0.3)
        os.sched_setaffinity(0, {0})
        report("OpenBLAS's default threads", norm_times(args.calls))
        with threadpool_limits(1, user_api="blas"):
            report("one BLAS thread", norm_times(args.calls))
    finally:
        busy.kill()


if __name__ == "__main__":
    main()
