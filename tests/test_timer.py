"""The baseline timer: a real trusted process timing jax.jit(jax.grad(objective))."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from grader.errors import WorkerError
from grader.gate import pin_thread
from grader.pipeline import Grader
from grader.rubric import default_rubric_path, load_rubric
from grader.timer import BaselineTimer


@pytest.fixture(scope="module")
def timer() -> Iterator[BaselineTimer]:
    started = BaselineTimer(load_rubric(default_rubric_path()).reference_path(), "cpu")
    yield started
    started.close()


def test_times_every_call_and_what_it_spent_between_them(timer: BaselineTimer) -> None:
    X = np.random.default_rng(0).standard_normal((20, 20))
    timed = timer.time("p2_grad_eigsum", (X,), 7)
    assert len(timed.times) == 7 and all(0 < t < 5 for t in timed.times)
    assert 0 < timed.untimed_s < 5


def test_a_bad_request_is_an_error_and_the_timer_goes_on(timer: BaselineTimer) -> None:
    with pytest.raises(WorkerError, match="the baseline timer failed: KeyError: 'no_such'"):
        timer.time("no_such", (np.ones(3),), 1)
    assert len(timer.time("p2_grad_eigsum", (np.eye(4),), 2).times) == 2


def test_close_ends_the_process() -> None:
    started = BaselineTimer(load_rubric(default_rubric_path()).reference_path(), "cpu")
    started.close()
    assert started.process.poll() is not None


def test_the_timer_runs_on_its_lanes_core() -> None:
    cpu = max(os.sched_getaffinity(0))
    started = BaselineTimer(load_rubric(default_rubric_path()).reference_path(), "cpu", cpu)
    try:
        started.time("p2_grad_eigsum", (np.eye(4),), 1)
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
    timers: list[BaselineTimer] = []

    def start() -> None:
        pin_thread(started_on)
        timers.append(BaselineTimer(reference, "cpu", cpu))

    starter = threading.Thread(target=start)
    starter.start()
    starter.join()
    try:
        timers[0].time("p2_grad_eigsum", (np.eye(4),), 1)
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
