"""The trusted timer: a real process that times the baseline in itself and a real worker's calls
by its own clock, through the timed-call stream."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from grader.errors import StudentTimingFailed, WorkerError
from grader.lanes import pin_thread
from grader.pipeline import Grader
from grader.rubric import default_rubric_path, load_rubric
from grader.sandbox import Worker, WorkerConfig, start_worker
from grader.sandbox.process import TIMING_NICE, may_raise_priority
from grader.trusted_timer import ECHO_EVERY, StudentRoundSpec, TrustedTimer

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

KEY = bytes(32)
EIGSUM = "p2_grad_eigsum"
SOURCE = """
import time
import jax.numpy as jnp

def identity(X):
    return jnp.eye(X.shape[0])

def slow_identity(X):
    time.sleep(0.01)
    return jnp.eye(X.shape[0])

def wrong(X):
    return 2 * jnp.eye(X.shape[0])

def wrong_shape(X):
    return jnp.eye(X.shape[0] + 1)

def raises(X):
    raise ValueError("on purpose")

def hangs(X):
    while True:
        pass
"""


@pytest.fixture(scope="module")
def timer() -> Iterator[TrustedTimer]:
    started = TrustedTimer(load_rubric(default_rubric_path()).reference_path(), "cpu")
    yield started
    started.close()


@pytest.fixture
def worker() -> Iterator[Worker]:
    started = start_worker(WorkerConfig())
    chunk = {"cell": 0, "line": 1, "source": SOURCE, "is_import": False}
    started.request({"op": "load", "chunks": [chunk]}, [], 60)
    yield started
    started.kill()


def spec(function: str, calls: int = 6, timeout_s: float = 5.0) -> StudentRoundSpec:
    return StudentRoundSpec(EIGSUM, function, {"n": 30}, KEY, calls, timeout_s, 1024, 1e-10, 1e-12)


def test_times_every_baseline_call(timer: TrustedTimer) -> None:
    timed = timer.baseline(EIGSUM, {"n": 20}, KEY, 7)
    assert len(timed.times) == 7 and all(0 < t < 5 for t in timed.times)


def test_a_student_round_is_timed_by_the_timers_clock(timer: TrustedTimer, worker: Worker) -> None:
    fast = timer.student(spec("identity"), (worker.request_fd, worker.reply_fd))
    slow = timer.student(spec("slow_identity", 3), (worker.request_fd, worker.reply_fd))
    assert len(fast.times) == 6 and len(fast.echo_times) == len(range(0, 6, ECHO_EVERY))
    assert fast.problem is None
    assert min(slow.times) >= 0.01 > min(fast.times) and slow.problem is None
    # The worker answers the grader's requests again afterwards.
    reply, _ = worker.request({"op": "call", "function": "identity", "args": [
        {"kind": "array", "index": 0}]}, [np.eye(3)], 10)  # fmt: skip
    assert reply["ok"]


@pytest.mark.parametrize(
    ("function", "kind", "fragment"),
    [
        pytest.param("raises", "exception", "ValueError: on purpose", id="raises"),
        pytest.param("wrong_shape", "exception", "expected float64 of shape (30, 30)", id="shape"),
        pytest.param("hangs", "timeout", "did not finish within 1 s", id="hangs"),
        pytest.param("no_such", "exception", "function not defined", id="missing"),
    ],
)
def test_a_failed_round_says_how(
    timer: TrustedTimer, worker: Worker, function: str, kind: str, fragment: str
) -> None:
    with pytest.raises(StudentTimingFailed) as failed:
        timer.student(spec(function, timeout_s=1.0), (worker.request_fd, worker.reply_fd))
    assert failed.value.kind == kind and fragment in str(failed.value)


def test_a_wrong_timed_output_is_caught_by_the_spot_check(
    timer: TrustedTimer, worker: Worker
) -> None:
    round_ = timer.student(spec("wrong"), (worker.request_fd, worker.reply_fd))
    assert round_.problem is not None and "relative error" in round_.problem


def test_a_bad_request_is_an_error_and_the_timer_goes_on(timer: TrustedTimer) -> None:
    with pytest.raises(WorkerError, match="the trusted timer failed: KeyError: 'no_such'"):
        timer.baseline("no_such", {"n": 3}, KEY, 1)
    assert len(timer.baseline(EIGSUM, {"n": 4}, KEY, 2).times) == 2


def test_close_ends_the_process() -> None:
    started = TrustedTimer(load_rubric(default_rubric_path()).reference_path(), "cpu")
    started.close()
    assert started.process.poll() is not None


def test_the_timer_runs_on_its_lanes_core() -> None:
    cpu = max(os.sched_getaffinity(0))
    started = TrustedTimer(load_rubric(default_rubric_path()).reference_path(), "cpu", cpu)
    try:
        started.baseline(EIGSUM, {"n": 4}, KEY, 1)
        assert os.sched_getaffinity(started.process.pid) == {cpu}
    finally:
        started.close()


def test_a_grader_replaces_a_timer_that_died(grader: Grader) -> None:
    lane = grader.control.lanes.lanes[0]
    first = grader.timer(lane)
    first.close()
    assert grader.timer(lane) is not first


def threads_of_a_timer(cpu: int, started_on: set[int]) -> int:
    """The threads of a timer for `cpu` started from a thread that may use `started_on`."""
    reference = load_rubric(default_rubric_path()).reference_path()
    timers: list[TrustedTimer] = []

    def start() -> None:
        pin_thread(started_on)
        timers.append(TrustedTimer(reference, "cpu", cpu))

    starter = threading.Thread(target=start)
    starter.start()
    starter.join()
    try:
        timers[0].baseline(EIGSUM, {"n": 4}, KEY, 1)
        return len(os.listdir(f"/proc/{timers[0].process.pid}/task"))
    finally:
        timers[0].close()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_the_timer_starts_on_its_core_whoever_starts_it() -> None:
    # XLA sizes its thread pools by the cores it may use when it starts: a timer started on all
    # cores and pinned afterwards ran the baseline 4-17% slower than under the workers' set-up.
    cpu = max(os.sched_getaffinity(0))
    everywhere = threads_of_a_timer(cpu, os.sched_getaffinity(0))
    assert everywhere == threads_of_a_timer(cpu, {cpu})


def test_timed_processes_run_at_the_timing_priority_where_allowed(
    timer: TrustedTimer, worker: Worker
) -> None:
    timer.baseline(EIGSUM, {"n": 4}, KEY, 1)
    expected = TIMING_NICE if may_raise_priority() else os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, timer.process.pid) == expected
    assert os.getpriority(os.PRIO_PROCESS, worker.process.pid) == expected
