"""How often and how long the machine has busy spells: a jitted function is timed in 50 ms
rounds on one core for a while, and each round's fastest call is compared with the fastest of
all. Rounds over 10% slower (timing.QUIET_SLACK) are busy; consecutive busy rounds are one spell.

On a shared VM, spells come from the host and cannot be removed, only measured around
(grader/timing.py measures a pair of rounds again when either side of it ran in one).

Usage: python benchmarks/busy_spells.py [--seconds 60] [--cpu 1]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader.speed import QUIET_SLACK

ROUND_S = 0.05


def fastest_per_round(seconds: float) -> list[float]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    gradient = jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(x @ x))))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((60, 60)))
    gradient(x).block_until_ready()
    rounds = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        calls = []
        round_end = time.perf_counter() + ROUND_S
        while time.perf_counter() < round_end:
            start = time.perf_counter()
            gradient(x).block_until_ready()
            calls.append(time.perf_counter() - start)
        rounds.append(min(calls))
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    rounds = fastest_per_round(args.seconds)
    quiet = min(rounds)
    busy = [fastest > QUIET_SLACK * quiet for fastest in rounds]
    spells = [len(list(run)) * ROUND_S for is_busy, run in itertools.groupby(busy) if is_busy]
    print(f"cpu {args.cpu}: {len(rounds)} rounds, fastest call {quiet * 1e6:.1f} us")
    print(f"busy rounds (> {QUIET_SLACK:.2f} x fastest): {sum(busy) / len(busy):.1%}")
    if spells:
        print(f"spells: {len(spells)}, median {statistics.median(spells):.2f} s, "
              f"longest {max(spells):.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
