"""The real worker process: isolation, failures as data, and no process left behind."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grader.errors import WorkerDied, WorkerTimeout
from grader.notebook import extract
from grader.sandbox import (
    WorkerConfig,
    descendants,
    processes_with,
    remove_stale_scratch,
    start_worker,
)
from grader.sandbox.process import SCRATCH_PREFIX, worker_environment

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

# A sleep duration of this run alone: another suite on the machine cannot match it.
SLEEP_MARKER = f"4343.{secrets.randbelow(10**9):09d}"
SOURCE = """
import os, sys, time, subprocess
import jax.numpy as jnp
from jax.config import config

def double(x):
    print("doubling")
    return 2 * x

def env(x):
    print(" ".join(sorted(os.environ)))
    return jnp.array([float(len(os.environ.get("MATGRADE_SECRET", "")))])

def is_x64(x):
    return jnp.asarray(x).dtype == jnp.float64

def loop(x):
    while True:
        pass

def spawn_and_hang(x):
    for _ in range(3):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "SLEEP_MARKER"])
            os._exit(0)
    time.sleep(600)

def leave_sleepers(x):
    for _ in range(3):
        if os.fork() == 0:
            os.setsid()
            time.sleep(600)
            os._exit(0)
    return x

def hard_exit(x):
    os._exit(7)

def soft_exit(x):
    sys.exit("bye")

def hog(x):
    return jnp.ones((20000, 20000, 10))

def lying_tuple(x):
    return (x, x)

def objects(x):
    import numpy as np
    return np.array([object()], dtype=object)

def page_faults_per_call(x):
    import resource
    a = jnp.ones((300, 300))
    step = lambda: (2 * (a @ a - a) @ a.T + 0.5 * a).block_until_ready()
    for _ in range(20):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    return jnp.array([(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20])

def switches_per_call(x):
    import resource
    def switches():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_nvcsw + usage.ru_nivcsw
    s = jnp.ones(40) / 40
    step = lambda: (jnp.diag(s) - jnp.outer(s, s)).block_until_ready()
    step()
    before = switches()
    for _ in range(50):
        step()
    return jnp.array([(switches() - before) / 50])
""".replace("SLEEP_MARKER", SLEEP_MARKER)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MATGRADE_SECRET", "top-secret-value")
    started = start_worker(WorkerConfig(memory_mb=2048))
    extraction = extract([SOURCE])
    chunks = [
        {"cell": c.cell, "line": c.line, "source": c.source, "is_import": c.is_import}
        for c in extraction.chunks
    ]
    reply, _ = started.request(
        {"op": "load", "chunks": chunks, "candidates": extraction.candidates}, [], 30
    )
    assert reply["problems"] == []
    yield started
    started.kill()


def call(worker, name: str, timeout: float = 30):  # type: ignore[no-untyped-def]
    header = {
        "op": "call",
        "function": name,
        "args": [{"kind": "array", "index": 0}],
        "memory_mb": 2048,
    }
    return worker.request(header, [np.arange(3.0)], timeout)


def test_call_returns_array_and_captured_output(worker) -> None:  # type: ignore[no-untyped-def]
    reply, arrays = call(worker, "double")
    assert reply["ok"] and reply["output"] == "doubling\n"
    np.testing.assert_array_equal(arrays[0], [0.0, 2.0, 4.0])


def test_environment_is_scrubbed_and_float64_on(worker) -> None:  # type: ignore[no-untyped-def]
    reply, arrays = call(worker, "env")
    assert arrays[0][0] == 0  # the secret's length
    set_by_jax = {"TF_CPP_MIN_LOG_LEVEL", "TPU_SKIP_MDS_QUERY"}
    given = set(worker_environment(Path("/scratch"), "cpu"))
    assert set(reply["output"].split()) == given | set_by_jax
    _, arrays = call(worker, "is_x64")
    assert bool(arrays[0])


def test_freed_memory_stays_in_the_worker(worker) -> None:  # type: ignore[no-untyped-def]
    # Given back to the kernel, every 720 KB intermediate was faulted in again on the next call
    # (~400 faults per call of this code); timing would measure the kernel, not the student.
    _, arrays = call(worker, "page_faults_per_call")
    assert arrays[0][0] < 100


def test_the_worker_dispatches_jax_inline(worker) -> None:  # type: ignore[no-untyped-def]
    # XLA's asynchronous CPU dispatch switches threads twice per operation, which made the same
    # answer's time vary from round to round (docs/performance.md, inline CPU dispatch).
    _, arrays = call(worker, "switches_per_call")
    assert arrays[0][0] < 1


@pytest.mark.parametrize(
    ("name", "error_type", "message"),
    [
        ("soft_exit", "SystemExit", "called sys.exit('bye')"),
        ("lying_tuple", "NotAnArray", "returned tuple, expected a single array"),
        ("objects", "NotAnArray", "returned values of dtype object, expected float64 numbers"),
        ("missing_function", "NameError", "function not defined"),
    ],
)
def test_failures_are_replies(worker, name: str, error_type: str, message: str) -> None:  # type: ignore[no-untyped-def]
    reply, _ = call(worker, name)
    assert (reply["ok"], reply["error_type"], reply["message"]) == (False, error_type, message)
    assert worker.alive()


def test_memory_hog_is_an_error_not_a_crash_of_the_grader(worker) -> None:  # type: ignore[no-untyped-def]
    try:
        reply, _ = call(worker, "hog")
    except WorkerDied as error:
        assert "worker" in str(error)
    else:
        assert reply["ok"] is False


def test_hard_exit_is_reported(worker) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorkerDied, match="exited with code 7"):
        call(worker, "hard_exit")


def test_timeout_kills_whole_tree_including_setsid_grandchildren(worker) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorkerTimeout):
        call(worker, "spawn_and_hang", timeout=3)
    assert not worker.alive()
    time.sleep(0.2)
    assert processes_with(SLEEP_MARKER) == []


def test_kill_after_grading_removes_leftover_children(worker) -> None:  # type: ignore[no-untyped-def]
    call(worker, "leave_sleepers")
    children = descendants(worker.process.pid)
    assert len(children) >= 3
    worker.kill()
    time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)]


def test_endless_loop_times_out(worker) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorkerTimeout, match="no answer within 2 s"):
        call(worker, "loop", timeout=2)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_share_one_memory_layout(worker) -> None:  # type: ignore[no-untyped-def]
    from grader.sandbox.process import fixed_layout_prefix

    if not fixed_layout_prefix():
        pytest.skip("setarch -R is refused here")
    personality = int(Path(f"/proc/{worker.process.pid}/personality").read_text(), 16)
    assert personality & 0x0040000  # ADDR_NO_RANDOMIZE


def test_a_killed_graders_scratch_folders_are_removed_by_the_next(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    stale = tmp_path / f"{SCRATCH_PREFIX}{ended.pid}-abc"
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-abc"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "left.txt").write_text("a student's file")
    remove_stale_scratch(tmp_path)
    assert (stale.exists(), live.exists()) == (False, True)
