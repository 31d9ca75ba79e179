"""XLA's asynchronous CPU dispatch against inline dispatch, for timed code on one pinned core:
fresh processes (set up as workers are: timing_environment, pinned before JAX starts) alternate
between the two, each timing rounds of two eager softmax Jacobian answers (n=40) and the jitted
autodiff baseline with timed_loop.time_calls. Prints, per mode and answer, the spread of a round's
fastest call within and across processes, and context switches per call.

Usage: python benchmarks/dispatch.py [--processes 6] [--rounds 10] [--cpu 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from grader import jax_runtime, timed_loop

CALLS = 200
MODES = {"async (JAX's default)": True, "inline (matgrade's)": False}


def measure(asynchronous: bool, rounds: int) -> dict[str, Any]:
    """In a fresh process: each answer's per-round fastest call (us) and switches per call."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    jax.config.update(jax_runtime.SYNC_CPU_DISPATCH[0], asynchronous)

    def library_softmax(w: Any) -> Any:
        s = jax.nn.softmax(w)
        return jnp.diag(s) - jnp.outer(s, s)

    def spelled_out(w: Any) -> Any:
        e = jnp.exp(w - w.max())
        s = e / e.sum()
        return jnp.diag(s) - s[:, None] * s[None, :]

    answers: dict[str, Callable[..., Any]] = {
        "softmax via jax.nn": library_softmax,
        "softmax spelled out": spelled_out,
        "jitted baseline": jax.jit(jax.jacobian(jax.nn.softmax)),
    }
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {}
    for name, answer in answers.items():
        timed_loop.time_calls(
            answer, [jnp.asarray(rng.standard_normal(40))], 3, jax.block_until_ready
        )
        before = context_switches()
        fastest = [
            min(timed_loop.time_calls(answer, [jnp.asarray(rng.standard_normal(40))], CALLS,
                                    jax.block_until_ready)[0]) * 1e6
            for _ in range(rounds)
        ]  # fmt: skip
        results[name] = {
            "fastest": fastest,
            "switches": (context_switches() - before) / (rounds * CALLS),
        }
    return results


def context_switches() -> int:
    total = 0
    for thread in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{thread}/status") as status:
            total += sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
    return total


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def run_process(asynchronous: bool, rounds: int, cpu: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(int(asynchronous)),
               "--rounds", str(rounds), "--cpu", str(cpu)]  # fmt: skip
    env = jax_runtime.timing_environment(os.environ)
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(output.stdout))


def report(label: str, processes: list[dict[str, Any]]) -> None:
    print(label)
    for name in processes[0]:
        per_process = [statistics.median(p[name]["fastest"]) for p in processes]
        within = statistics.median(spread(p[name]["fastest"]) for p in processes)
        switches = statistics.median(p[name]["switches"] for p in processes)
        print(f"  {name:20} median {statistics.median(per_process):6.1f} us, process medians "
              f"{min(per_process):.1f}-{max(per_process):.1f} us ({spread(per_process):.1%}), "
              f"rounds in a process {within:.1%}, {switches:.2f} switches per call")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        os.sched_setaffinity(0, {args.cpu})  # before JAX starts, as a worker's
        print(json.dumps(measure(bool(args.child), args.rounds)))
        return
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in MODES}
    for _ in range(args.processes):
        for label, asynchronous in MODES.items():
            results[label].append(run_process(asynchronous, args.rounds, args.cpu))
    for label, processes in results.items():
        report(label, processes)


if __name__ == "__main__":
    main()
