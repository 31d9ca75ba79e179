"""The lane's trusted stopwatch: a process that times both sides of a speed ratio, run as
`python -m grader.trusted_timer CONFIG`.

- The autodiff baseline, `jax.jit(jax.grad(objective))`, runs in this process and is timed by its
  own loop (protocol.time_calls).
- The student's function runs in its worker. For a round, the grader lends this process the
  worker's pipes, and every call goes through the timed-call stream (grader.stream): inputs are
  drawn here afresh for each call, and this process's clock runs from sending them until the
  output's bytes are back. Nothing the worker says about time is used.
- Passing inputs and outputs costs the same for any function; it is calibrated on an echo: a
  worker started here, running only the trusted `echo` below, timed on the same inputs.

One per lane, pinned to the lane's core (as the lane's workers are), with the workers'
interpreter, XLA and BLAS threading. Its clock is not the grader's: no other grading's work in
the grader's process (its GIL, its locks) can delay a measurement. No student code runs here.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from grader import protocol, stream
from grader.errors import FrameError, StreamFailed, StudentTimingFailed, WorkerError
from grader.jax_runtime import timing_environment
from grader.messages import LoadRequest, SourceChunk, TimedCallsRequest
from grader.sandbox import WorkerConfig, launch_worker
from grader.sandbox.process import take_timing_priority
from grader.speed import BaselineTimes, StudentCalls
from grader.timed_loop import collector_paused

START_TIMEOUT_S = 120.0
# Outputs spot-checked per student round, chosen after the inputs are drawn and never told to the
# worker: an answer wrong (or lazy) on a share of its calls is caught with high odds per phase.
CHECKED_CALLS = 2
ECHO_FUNCTION = "echo"
# The echo gets every ECHO_EVERY-th call of a round: its fastest over a phase is still a minimum
# over dozens of round trips, at a third of the time.
ECHO_EVERY = 3


@dataclass(frozen=True)
class StudentRoundSpec:
    """What the timer needs to time one round of a student's function."""

    problem: str
    function: str
    sizes: Mapping[str, int]
    key: bytes  # inputs.timing_key of the round
    calls: int
    call_timeout_s: float
    memory_mb: int
    rtol: float
    atol: float


class TrustedTimer:
    """Parent side: starts the timing process once and sends it rounds to time."""

    def __init__(self, reference_path: Path, device: str, cpu: int | None = None) -> None:
        """Starts the process (it imports JAX meanwhile) on `cpu`, where its rounds run; the
        first round waits for it."""
        self.channel, theirs = socket.socketpair()
        config = {
            "reference": str(reference_path),
            "device": device,
            "cpu": cpu,
            "fd": theirs.fileno(),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "grader.trusted_timer", json.dumps(config)],
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            env=timing_environment(os.environ),
        )
        theirs.close()
        self.lock = threading.Lock()
        self.ready = False

    def baseline(
        self, problem_id: str, sizes: Mapping[str, int], key: bytes, calls: int
    ) -> BaselineTimes:
        """`calls` timed calls of the problem's baseline on the round's input (varied per call)."""
        header = {"op": "baseline", "problem": problem_id, "sizes": dict(sizes), "key": key.hex()}
        reply = self._ask({**header, "calls": calls}, (), START_TIMEOUT_S)
        return BaselineTimes([float(t) for t in reply["times"]])

    def student(self, spec: StudentRoundSpec, worker_fds: tuple[int, int]) -> StudentCalls:
        """One round of the student's function on the worker whose (request, reply) pipe ends
        these are; the timer uses them for this round only."""
        header = {
            "op": "student",
            "problem": spec.problem,
            "function": spec.function,
            "sizes": dict(spec.sizes),
            "key": spec.key.hex(),
            "calls": spec.calls,
            "call_timeout_s": spec.call_timeout_s,
            "memory_mb": spec.memory_mb,
            "rtol": spec.rtol,
            "atol": spec.atol,
        }
        wait = START_TIMEOUT_S + (spec.calls + 3) * spec.call_timeout_s
        reply = self._ask(header, worker_fds, wait)
        if reply.get("failed"):
            raise StudentTimingFailed(str(reply["failed"]), str(reply.get("message", "")))
        return StudentCalls(
            [float(t) for t in reply["times"]],
            [float(t) for t in reply["echo_times"]],
            reply.get("problem"),
        )

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.channel.close()

    def _ask(self, header: dict[str, Any], fds: Sequence[int], timeout_s: float) -> dict[str, Any]:
        with self.lock:
            self._wait_ready()
            protocol.send(self.channel.fileno(), header)
            if fds:
                socket.send_fds(self.channel, [b"F"], list(fds))
            reply = self._receive(timeout_s)
        if not reply.get("ok"):
            raise WorkerError(f"the trusted timer failed: {reply.get('message')}")
        return reply

    def _wait_ready(self) -> None:
        if not self.ready:
            hello = self._receive(START_TIMEOUT_S)
            if not hello.get("ok"):
                raise WorkerError(f"the trusted timer did not start: {hello.get('message')}")
            self.ready = True

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        try:
            header, _ = protocol.receive(self.channel.fileno(), time.monotonic() + timeout_s)
        except (EOFError, TimeoutError, FrameError, OSError) as error:
            self.close()
            raise WorkerError(f"the trusted timer stopped answering ({error})") from error
        return header


class TimerProcess:
    """Child side: the reference, the baselines, the echo worker, and the rounds."""

    def __init__(self, config: dict[str, Any]) -> None:
        from grader.assignment import load_assignment
        from grader.jax_runtime import DEVICE_PLATFORMS, configure_jax
        from grader.reference_side import ReferenceSide

        self.echo_config = WorkerConfig(platform=DEVICE_PLATFORMS[config["device"]], cpu_s=10**7)
        self.echo = launch_worker(self.echo_config)
        configure_jax(config["device"])
        self.assignment = load_assignment(Path(config["reference"]))
        self.reference = ReferenceSide()
        self.channel = socket.socket(fileno=int(config["fd"]))
        self.echo_shape: tuple[int, ...] | None = None
        self.chooser = random.SystemRandom()

    def serve(self) -> None:
        channel = self.channel.fileno()
        protocol.send(channel, {"ok": True})
        while True:
            try:
                request, _ = protocol.receive(channel)
            except EOFError:
                return
            fds: list[int] = []
            if request.get("op") == "student":
                _, fds, _, _ = socket.recv_fds(self.channel, 1, 2)
            try:
                reply = self.handle(request, fds)
            except Exception as error:  # a broken reference or request: the parent reports it
                reply = {"ok": False, "message": f"{type(error).__name__}: {error}"}
            finally:
                for fd in fds:
                    os.close(fd)
            protocol.send(channel, reply)

    def handle(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        problem = self.assignment.problems[str(request["problem"])]
        key = bytes.fromhex(str(request["key"]))
        sizes = {str(name): int(size) for name, size in request["sizes"].items()}
        if request["op"] == "baseline":
            from grader.inputs import make_call_cases

            args = make_call_cases(key, problem, sizes, 1)[0].args
            timed = self.reference.time_baseline(problem, args, int(request["calls"]))
            return {"ok": True, "times": timed.times}
        return self.student_round(request, problem, key, sizes, fds)

    def student_round(
        self,
        request: dict[str, Any],
        problem: Any,
        key: bytes,
        sizes: dict[str, int],
        fds: list[int],
    ) -> dict[str, Any]:
        from grader.inputs import make_call_cases

        cases = make_call_cases(key, problem, sizes, int(request["calls"]))
        # A supplied function is named once per session: every call gets the first call's.
        cases = [replace(case, args=same_functions(case.args, cases[0].args)) for case in cases]
        layout = self.layout(problem, cases[0].args)
        payloads = [stream.encode_call(numeric(case.args), layout) for case in cases]
        checked = set(self.chooser.sample(range(len(cases)), min(CHECKED_CALLS, len(cases))))
        session = TimedCallsRequest(
            str(request["function"]),
            layout.to_json(),
            tuple(supplied(cases[0].args)),
            int(request["memory_mb"]),
        )
        timeout = float(request["call_timeout_s"])
        try:
            request_fd, reply_fd = fds
            times, outputs = timed_round(
                request_fd, reply_fd, session, payloads, layout, timeout, checked
            )
        except StreamFailed as error:
            return {"ok": True, "failed": "exception", "message": _failure_text(error.header)}
        except TimeoutError:
            message = f"a timed call did not finish within {timeout:g} s"
            return {"ok": True, "failed": "timeout", "message": message}
        except (EOFError, OSError) as error:
            return {"ok": True, "failed": "died", "message": f"the worker stopped ({error})"}
        except (FrameError, ValueError, KeyError, TypeError) as error:
            return {"ok": True, "failed": "malformed", "message": f"malformed reply ({error})"}
        wrong = self.spot_check(problem, cases, outputs, request)
        echo_times = self.echo_round(problem, session, payloads[::ECHO_EVERY], layout)
        return {"ok": True, "times": times, "echo_times": echo_times, "problem": wrong}

    def layout(self, problem: Any, args: Sequence[Any]) -> stream.Layout:
        output_shape = self.reference.expected(problem, args).shape
        shapes = tuple(None if isinstance(a, str) else np.shape(a) for a in args)
        return stream.Layout(shapes, tuple(output_shape))

    def spot_check(
        self,
        problem: Any,
        cases: list[Any],
        outputs: dict[int, np.ndarray],
        request: Mapping[str, Any],
    ) -> str | None:
        from grader.compare import compare

        for index, output in sorted(outputs.items()):
            expected = self.reference.expected(problem, cases[index].args)
            comparison = compare(output, expected, float(request["rtol"]), float(request["atol"]))
            if not comparison.passed:
                return comparison.message
        return None

    def echo_round(
        self,
        problem: Any,
        session: TimedCallsRequest,
        payloads: list[bytearray],
        layout: stream.Layout,
    ) -> list[float]:
        """The same calls' round trips to the echo worker: what passing these inputs and an
        output of this shape costs, measured on trusted code."""
        if not self.echo.alive():  # a trusted process, but it can still run out of memory
            self.echo, self.echo_shape = launch_worker(self.echo_config), None
        echo = self.echo
        echo.wait_ready()
        if self.echo_shape != layout.output_shape:
            # A fresh output per call, as an answer makes one: converting a cached one is cheaper.
            source = (
                "import jax as _jax, jax.numpy as _jnp\n"
                f"_fresh = _jax.jit(lambda: _jnp.zeros({layout.output_shape!r}, _jnp.float64))\n"
                f"_fresh()\ndef {ECHO_FUNCTION}(*args):\n    return _fresh()\n"
            )
            load = LoadRequest((SourceChunk(cell=0, line=1, source=source),), (ECHO_FUNCTION,))
            echo.request(load.header(), [], START_TIMEOUT_S)
            self.echo_shape = layout.output_shape
        echo_session = replace(session, function=ECHO_FUNCTION)
        times, _ = timed_round(
            echo.request_fd, echo.reply_fd, echo_session, payloads, layout, START_TIMEOUT_S, set()
        )
        return times


def timed_round(
    write_fd: int,
    read_fd: int,
    session: TimedCallsRequest,
    payloads: list[bytearray],
    layout: stream.Layout,
    call_timeout_s: float,
    keep: set[int],
) -> tuple[list[float], dict[int, np.ndarray]]:
    """One session of the timed-call stream: each call's seconds by this process's clock, from
    its first byte sent to its output's last byte read, and the outputs of the calls in `keep`."""
    protocol.send(write_fd, session.header())
    ready, _ = protocol.receive(read_fd, time.monotonic() + call_timeout_s, protocol.NO_ARRAYS)
    if not ready.get("ok"):
        raise StreamFailed(ready)
    times: list[float] = []
    kept: dict[int, np.ndarray] = {}
    with collector_paused():
        for index, payload in enumerate(payloads):
            deadline = time.monotonic() + call_timeout_s
            stream.expect_silence(read_fd)
            start = perf_counter()
            output = stream.exchange(write_fd, read_fd, payload, layout, deadline)
            times.append(perf_counter() - start)
            if index in keep:
                kept[index] = output
    stream.end(write_fd)
    protocol.receive(read_fd, time.monotonic() + call_timeout_s, protocol.NO_ARRAYS)
    return times, kept


def same_functions(args: Sequence[Any], first: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(f if isinstance(f, str) else a for a, f in zip(args, first, strict=True))


def numeric(args: Sequence[Any]) -> list[np.ndarray | float | None]:
    return [None if isinstance(value, str) else value for value in args]


def supplied(args: Sequence[Any]) -> list[str | None]:
    return [value if isinstance(value, str) else None for value in args]


def _failure_text(header: Mapping[str, Any]) -> str:
    where = str(header.get("location", ""))
    message = str(header.get("message", "the function failed"))
    return f"{message} ({where})" if where else message


def main() -> None:
    # Ctrl-C reaches the whole foreground process group: the grader stops this process itself
    # (closing its channel), without a KeyboardInterrupt traceback from here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = json.loads(sys.argv[1])
    # On its core before JAX starts, as workers are: XLA sizes its thread pools by the cores a
    # process may use when it starts, and one pinned afterwards keeps pools sized for more.
    if config.get("cpu") is not None:
        os.sched_setaffinity(0, {config["cpu"]})
    take_timing_priority()  # as the lane's workers run
    channel = int(config["fd"])
    timer: TimerProcess | None = None
    try:
        timer = TimerProcess(config)
        timer.serve()
    except Exception as error:
        with contextlib.suppress(OSError):
            protocol.send(channel, {"ok": False, "message": f"{error}"})
    finally:
        if timer is not None:
            timer.echo.kill()
    os._exit(0)  # skips XLA's teardown


if __name__ == "__main__":
    main()
