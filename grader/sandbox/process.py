"""Starts and limits worker processes, and kills whole process trees.

The worker gets a fresh interpreter, an empty environment (no secret can leak through it), its
own session, a scratch directory as cwd and home, and two pipes for the protocol. The parent
enforces every wall-clock deadline; when one passes, the worker and everything it started are
stopped first (so nothing forks while we look) and then killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import protocol
from grader.errors import FrameError, WorkerDied, WorkerError, WorkerTimeout
from grader.jax_runtime import GPU_ENV, timing_environment
from grader.sandbox.layers import Confinement, WorkerCgroup, owner_is_gone

RAW_OUTPUT_CAP = 16 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KILL_WAIT_S = 2.0
START_TIMEOUT_S = 120.0
PASSED_THROUGH_ENV = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")


@dataclass(frozen=True)
class WorkerConfig:
    platform: str = "cpu"
    memory_mb: int = 4096
    cpu_s: int = 600
    file_mb: int = 64
    confinement: Confinement = field(default_factory=lambda: Confinement(layers={}))
    hidden: tuple[str, ...] = ()
    cache_dir: str | None = None

    def boot_message(self, request_fd: int, reply_fd: int) -> dict[str, Any]:
        """What the worker needs before it can talk: limits, layers, its pipe descriptors."""
        return {
            "platform": self.platform,
            "memory_mb": self.memory_mb,
            "cpu_s": self.cpu_s,
            "file_mb": self.file_mb,
            "landlock": self._uses("landlock"),
            "seccomp": self._uses("seccomp"),
            "hidden": list(self.hidden),
            "cache_dir": self.cache_dir,
            "tmpfs_mb": self.confinement.scratch_tmpfs_mb() if self.confinement.layers else None,
            "request_fd": request_fd,
            "reply_fd": reply_fd,
        }

    def _uses(self, layer: str) -> bool:
        found = self.confinement.layers.get(layer)
        return found is not None and found.available


@dataclass
class Worker:
    """One running worker process and its protocol pipes."""

    config: WorkerConfig
    process: subprocess.Popen[bytes]
    request_fd: int
    reply_fd: int
    scratch: Path
    cgroup: WorkerCgroup | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _raw_output: bytearray = field(default_factory=bytearray)

    def request(
        self,
        header: dict[str, Any],
        arrays: list[np.ndarray],
        timeout_s: float,
        limit: protocol.ReplyLimit = protocol.ANY_REPLY,
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        deadline = time.monotonic() + timeout_s
        try:
            protocol.send(self.request_fd, header, arrays)
            return protocol.receive(self.reply_fd, deadline, limit)
        except TimeoutError as error:
            self.kill()
            raise WorkerTimeout(f"no answer within {timeout_s:g} s") from error
        except (EOFError, BrokenPipeError, FrameError, ValueError) as error:
            self.kill()
            raise WorkerDied(self._death_reason(error)) from error

    def _death_reason(self, error: Exception) -> str:
        if isinstance(error, FrameError | ValueError):
            return f"the worker sent a malformed reply ({error})"
        code = self.process.wait()
        if self.cgroup is not None and self.cgroup.oom_killed():
            return f"the worker was killed for using more than {self.config.memory_mb} MB"
        if code == 1 and self.config.confinement.command_prefix:
            # unshare reports a child killed by a signal as its own exit status 1
            return (
                "the worker ended abruptly: it exited with code 1, or crashed, or was killed "
                "at its CPU or memory limit"
            )
        return describe_exit(code)

    def wait_ready(self) -> None:
        """Wait for the worker's hello; a worker that cannot start is the grader's problem."""
        if self.info:
            return
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            self.info, _ = protocol.receive(self.reply_fd, deadline, protocol.NO_ARRAYS)
        except (TimeoutError, EOFError, FrameError) as error:
            self.kill()
            detail = self.raw_output().strip().splitlines()[-1:] or [type(error).__name__]
            raise WorkerError(f"the worker could not start: {detail[0]}") from error
        if self.cgroup is not None:
            # The launcher may have forked before it was moved: move the whole tree again
            # now, before any student code has been sent.
            self.cgroup.add({self.process.pid} | descendants(self.process.pid))

    def raw_output(self) -> str:
        return self._raw_output.decode(errors="replace")

    def kill(self) -> None:
        kill_tree(self.process.pid)
        self.process.wait()
        for fd in (self.request_fd, self.reply_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.cgroup is not None:
            self.cgroup.remove()

    def alive(self) -> bool:
        return self.process.poll() is None

    def processes(self) -> int:
        """The worker's processes, the launch prefix's included: more than after loading means
        student code left some running."""
        return 1 + len(descendants(self.process.pid))


def start_worker(config: WorkerConfig) -> Worker:
    worker = launch_worker(config)
    worker.wait_ready()
    return worker


SCRATCH_PREFIX = "matgrade-worker-"


def remove_stale_scratch(root: Path | None = None) -> None:
    """Scratch folders of workers whose grader was killed (SIGKILL leaves nobody to remove them)."""
    for folder in (root or Path(tempfile.gettempdir())).glob(f"{SCRATCH_PREFIX}*-*"):
        if owner_is_gone(folder.name.removeprefix(SCRATCH_PREFIX).split("-")[0]):
            shutil.rmtree(folder, ignore_errors=True)


def launch_worker(config: WorkerConfig) -> Worker:
    """Start the process and return at once; the worker imports JAX while the caller works."""
    confinement = config.confinement
    # The grader's pid in the name: a killed grader's folders are found and removed by the next.
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    if confinement.uid is not None:
        os.chown(scratch, confinement.uid, confinement.uid)
    request_read, request_write = _wide_pipe()
    reply_read, reply_write = _wide_pipe()
    boot = config.boot_message(request_read, reply_write)
    command = [sys.executable, "-I", "-m", "grader.worker", json.dumps(boot)]
    prefix = [
        *timing_priority_prefix(),
        *fixed_layout_prefix(),
        *confinement.command_prefix,
        *_drop_privileges(confinement),
    ]
    process = subprocess.Popen(
        [*prefix, *command],
        env=worker_environment(scratch, config.platform),
        cwd=scratch,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(request_read, reply_write),
        start_new_session=True,
    )
    os.close(request_read)
    os.close(reply_write)
    worker = Worker(config, process, request_write, reply_read, scratch, _cgroup_for(config))
    if worker.cgroup is not None:
        worker.cgroup.add({process.pid})
    _drain_output(worker)
    return worker


_worker_count = itertools.count()
PIPE_BYTES = 1 << 20  # Linux's default cap for unprivileged processes (/proc/sys/fs/pipe-max-size)


def _wide_pipe() -> tuple[int, int]:
    """A pipe that holds a timed call's inputs whole where it can: with the default 64 KiB,
    sending 0.5 MB switched between writer and reader eight times per call."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return read_end, write_end


# Processes that run timed code (workers, the trusted timer and its echo) run at this niceness
# where the grader may raise priority (root): a busy neighbour on the same core at the default
# niceness then gets a small share of it (weights 29154 to 1024) instead of half, so a long call
# is not stretched by the time slices it would have lost. Workers cannot change it (seccomp,
# RLIMIT_NICE).
TIMING_NICE = -15


def timing_priority_prefix() -> list[str]:
    """`nice` to bring a worker started from this process to TIMING_NICE, where allowed."""
    adjustment = TIMING_NICE - os.getpriority(os.PRIO_PROCESS, 0)
    if adjustment == 0 or not may_raise_priority():
        return []
    return ["nice", "-n", str(adjustment)]


@functools.cache
def may_raise_priority() -> bool:
    try:
        done = subprocess.run(["nice", "-n", "-1", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and not done.stderr


def take_timing_priority() -> None:
    """Bring this process to TIMING_NICE where allowed (the trusted timer, at its start)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, TIMING_NICE)


@functools.cache
def fixed_layout_prefix() -> list[str]:
    """Start the worker without address-space randomisation, where util-linux can.

    Eager student code runs at speeds that depend on where its buffers land: with random
    layouts, the same answer's time in fresh workers split into groups 10-20% apart, enough to
    move its speed ratio across a batch. One layout for every worker removes that spread. It
    costs no protection: student code already runs as code in that process, ASLR only hinders
    an outsider's memory-corruption exploit. Docker's default seccomp profile refuses this
    personality, so it is tried once before use.
    """
    command = ["setarch", "-R"]
    try:
        subprocess.run([*command, "true"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return command


def _cgroup_for(config: WorkerConfig) -> WorkerCgroup | None:
    roots = config.confinement.cgroup_roots
    if not roots:
        return None
    name = f"matgrade-{os.getpid()}-{next(_worker_count)}"
    return WorkerCgroup(roots, name, config.memory_mb * 1024 * 1024)


def _drop_privileges(confinement: Confinement) -> list[str]:
    """setpriv as the last step of the launcher: namespaces are made as root, code runs as uid."""
    if confinement.uid is None:
        return []
    uid = str(confinement.uid)
    return [
        "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all",
    ]  # fmt: skip


def worker_environment(scratch: Path, platform: str) -> dict[str, str]:
    """Only what Python and XLA need; nothing of the grader's environment (secrets) is passed."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "MALLOC_ARENA_MAX": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
        "JAX_PLATFORMS": platform,
        "JAX_ENABLE_X64": "1",
    }
    env = timing_environment(env)
    if platform != "cpu":
        env.update(GPU_ENV)
        env.update({k: os.environ[k] for k in PASSED_THROUGH_ENV if k in os.environ})
    return env


def _drain_output(worker: Worker) -> None:
    """Read the worker's raw stdout/stderr so it never blocks; keep only the first bytes."""
    stream = worker.process.stdout
    assert stream is not None

    def drain() -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
            room = RAW_OUTPUT_CAP - len(worker._raw_output)
            if room > 0:
                worker._raw_output.extend(chunk[:room])

    threading.Thread(target=drain, daemon=True).start()


def describe_exit(code: int) -> str:
    if code >= 0:
        return f"the worker exited with code {code} (os._exit or a crash in native code)"
    name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
    reasons = {
        "SIGKILL": "it was killed (memory or CPU limit)",
        "SIGXCPU": "it used up its CPU time limit",
        "SIGSEGV": "it crashed (segmentation fault; often memory exhaustion)",
        "SIGABRT": "it aborted (often memory exhaustion in XLA)",
    }
    return f"the worker died from {name}: {reasons.get(name, 'killed by a signal')}"


def kill_tree(root: int) -> None:
    """Stop the worker and all its descendants (setsid() ones too), then kill them all."""
    stopped: set[int] = set()
    for _ in range(50):
        tree = ({root} | descendants(root)) - stopped
        if not tree:
            break
        for pid in tree:
            _signal(pid, signal.SIGSTOP)
        stopped |= tree
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, signal.SIGKILL)
    _wait_gone(stopped - {root}, KILL_WAIT_S)


def _wait_gone(pids: set[int], timeout_s: float) -> None:
    """SIGKILL takes effect asynchronously: return once none of `pids` runs any more, so that
    "no process outlives grading" holds when grading returns."""
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if _running(pid)}
        if pids:
            time.sleep(0.01)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def processes_with(text: str) -> list[int]:
    """Live processes whose command line contains `text` (e.g. a marker a probe started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
            except OSError:
                continue
            if text.encode() in command:
                found.append(int(entry))
    return found


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of `root` and its live descendants, all threads included."""
    ticks = 0
    for pid in {root} | descendants(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / CLOCK_TICKS


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
