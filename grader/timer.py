"""The autodiff baseline's stopwatch: a trusted process that times `jax.jit(jax.grad(objective))`
exactly as a worker times student code, run as `python -m grader.timer CONFIG`.

The baseline is timed under the students' conditions: a process of its own (not the grader's,
whose other threads do unrelated work), one per lane, pinned to the core where that lane's
workers run, with the same interpreter, XLA and BLAS threading, and fresh inputs for every call
(protocol.varied_input). No student code ever runs in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grader import protocol
from grader.errors import WorkerError
from grader.inputs import ArgValue
from grader.timing import BaselineTimes

START_TIMEOUT_S = 120.0


class BaselineTimer:
    """Parent side: starts the timing process once and sends it rounds to time."""

    def __init__(self, reference_path: Path, device: str, cpu: int | None = None) -> None:
        """Starts the process (it imports JAX meanwhile) on `cpu`, where its rounds run; the
        first round waits for it."""
        config = json.dumps({"reference": str(reference_path), "device": device, "cpu": cpu})
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "grader.timer", config],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=protocol.timing_environment(os.environ),
        )  # fmt: skip
        self.lock = threading.Lock()
        self.ready = False

    def time(self, problem_id: str, args: Sequence[ArgValue], calls: int) -> BaselineTimes:
        """`calls` timed calls of the problem's baseline on `args` (varied per call), in s, and
        the seconds spent between them (what a worker also spends between the student's calls)."""
        specs, arrays = protocol.encode_args(args)
        header = {"op": "time", "problem": problem_id, "args": specs, "calls": calls}
        with self.lock:
            self._wait_ready()
            assert self.process.stdin is not None
            protocol.send(self.process.stdin.fileno(), header, arrays)
            reply, _ = self._receive(START_TIMEOUT_S)
        if not reply.get("ok"):
            raise WorkerError(f"the baseline timer failed: {reply.get('message')}")
        return BaselineTimes([float(t) for t in reply["times"]], float(reply["untimed_s"]))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _wait_ready(self) -> None:
        if not self.ready:
            hello, _ = self._receive(START_TIMEOUT_S)
            if not hello.get("ok"):
                raise WorkerError(f"the baseline timer did not start: {hello.get('message')}")
            self.ready = True

    def _receive(self, timeout_s: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        assert self.process.stdout is not None
        try:
            return protocol.receive(self.process.stdout.fileno(), time.monotonic() + timeout_s)
        except (EOFError, TimeoutError, protocol.FrameError) as error:
            self.close()
            raise WorkerError(f"the baseline timer stopped answering ({error})") from error


def serve(config: dict[str, Any]) -> None:
    from grader.assignment import load_assignment
    from grader.baseline import ReferenceSide, configure_jax

    configure_jax(config["device"])
    assignment = load_assignment(Path(config["reference"]))
    reference = ReferenceSide()
    request_fd, reply_fd = sys.stdin.fileno(), sys.stdout.fileno()
    protocol.send(reply_fd, {"ok": True})
    while True:
        try:
            request, arrays = protocol.receive(request_fd)
        except EOFError:
            return
        try:
            problem = assignment.problems[str(request["problem"])]
            args = protocol.decode_args(request["args"], arrays)
            timed = reference.time_baseline(problem, args, int(request["calls"]))
        except Exception as error:  # a broken reference or request: the parent reports it
            protocol.send(reply_fd, {"ok": False, "message": f"{type(error).__name__}: {error}"})
            continue
        protocol.send(reply_fd, {"ok": True, "times": timed.times, "untimed_s": timed.untimed_s})


def main() -> None:
    config = json.loads(sys.argv[1])
    # On its core before JAX starts, as workers are: XLA sizes its thread pools by the cores a
    # process may use, and a timer that started on two cores and was pinned to one afterwards
    # ran the baseline up to 17% slower (grad_u 0.81 against 0.72 ms), so a lone notebook's
    # ratios came out that much lower than in a batch.
    if config.get("cpu") is not None:
        os.sched_setaffinity(0, {config["cpu"]})
    try:
        serve(config)
    except Exception as error:
        protocol.send(sys.stdout.fileno(), {"ok": False, "message": f"{error}"})
    sys.stdout.flush()
    os._exit(0)  # skips XLA's teardown


if __name__ == "__main__":
    main()
