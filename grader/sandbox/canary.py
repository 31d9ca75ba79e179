"""The canary: a probe worker, launched exactly as students' workers are, tries each attack.

The verdict rests on what the parent observes, never on what the probe says: a connection that
reached the parent's listener, a datagram that arrived, a signal the parent received, a file that
appeared outside the scratch folder, a canary secret that came back, an allocation past the cap
that succeeded, a process still alive after the worker was killed.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.errors import WorkerDied, WorkerTimeout
from grader.messages import CallReply, CallRequest, LoadRequest, SourceChunk
from grader.sandbox.process import (
    Worker,
    WorkerConfig,
    descendants,
    processes_with,
    start_worker,
)

PROTECTIONS = (
    "read_secret", "tcp", "udp", "signal", "write", "memory", "processes", "capabilities",
)  # fmt: skip
PROBE_TIMEOUT_S = 30.0

PROBE_SOURCE = """
import os, socket, signal, subprocess, time
import numpy as np

def _codes(data):
    return np.frombuffer(bytes(data)[:256], dtype=np.uint8).astype(np.float64)

def read_secret(path):
    try:
        with open(path, "rb") as stream:
            return _codes(stream.read())
    except OSError:
        return _codes(b"")

def tcp(port, token):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(token.encode())
    except OSError:
        pass
    return _codes(b"")

def udp(port, token):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(token.encode(), ("127.0.0.1", port))
    except OSError:
        pass
    return _codes(b"")

def send_signal(pid):
    try:
        os.kill(pid, signal.SIGUSR2)
    except OSError:
        pass
    return _codes(b"")

def write(path):
    try:
        with open(path, "w") as stream:
            stream.write("canary")
    except OSError:
        pass
    return _codes(b"")

def memory(megabytes):
    block = np.ones(int(megabytes) * 1024 * 1024 // 8)
    return np.array([block.sum()])

def leave_process(seconds):
    subprocess.Popen(["sleep", seconds], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.fork() == 0:
        os.setsid()
        subprocess.Popen(["sleep", seconds])
        os._exit(0)
    return _codes(b"")
"""


@dataclass(frozen=True)
class CanaryReport:
    protections: dict[str, bool]
    layers: dict[str, str]

    @property
    def level(self) -> str:
        held = [name for name in PROTECTIONS if self.protections.get(name)]
        if len(held) == len(PROTECTIONS):
            return "full"
        isolation = ("read_secret", "tcp", "udp", "signal", "write")
        return "minimal" if not set(isolation) & set(held) else "partial"

    def missing(self) -> list[str]:
        return [name for name in PROTECTIONS if not self.protections.get(name)]


def run_canary(config: WorkerConfig) -> CanaryReport:
    with _Traps() as traps:
        protections = _probe(config, traps)
    layers = config.confinement.describe()
    return CanaryReport(protections, layers)


class _Traps:
    """The parent's side of the probes: a secret, a listener, a socket, a signal, a folder."""

    def __enter__(self) -> _Traps:
        self.token = secrets.token_hex(16)
        self.folder = Path(tempfile.mkdtemp(prefix="matgrade-canary-"))
        self.secret = self.folder / "secret"
        self.secret.write_text(self.token)
        self.secret.chmod(0o600)
        self.target = self.folder / "written-by-probe"
        self.marker = f"{4000 + secrets.randbelow(1000)}.{secrets.randbelow(10**6):06d}"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.datagrams.bind(("127.0.0.1", 0))
        self.datagrams.setblocking(False)
        self.signals = 0
        self.previous = signal.signal(signal.SIGUSR2, self._count)
        return self

    def _count(self, signum: int, frame: Any) -> None:
        self.signals += 1

    def connection_arrived(self) -> bool:
        try:
            connection, _ = self.listener.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True

    def datagram_arrived(self) -> bool:
        try:
            return bool(self.datagrams.recv(64))
        except BlockingIOError:
            return False

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGUSR2, self.previous)
        self.listener.close()
        self.datagrams.close()
        for path in (self.secret, self.target):
            path.unlink(missing_ok=True)
        self.folder.rmdir()


def _probe(config: WorkerConfig, traps: _Traps) -> dict[str, bool]:
    worker = start_worker(config)
    try:
        _load(worker)
        read_back = _bytes(_call(worker, "read_secret", str(traps.secret)))
        _call(worker, "tcp", traps.listener.getsockname()[1], traps.token)
        tcp_reached = _observe(traps.connection_arrived)
        _call(worker, "udp", traps.datagrams.getsockname()[1], traps.token)
        udp_reached = _observe(traps.datagram_arrived)
        _call(worker, "send_signal", os.getpid())
        signalled = _observe(lambda: traps.signals > 0)
        _call(worker, "write", str(traps.target))
        written = _observe(traps.target.exists)
        _call(worker, "leave_process", traps.marker)
        no_capabilities = _without_capabilities(worker)
        memory_capped = _memory_capped(worker, config.memory_mb)
    finally:
        worker.kill()
    return {
        "read_secret": traps.token.encode() not in read_back,
        "tcp": not tcp_reached,
        "udp": not udp_reached,
        "signal": not signalled,
        "write": not written,
        "memory": memory_capped,
        "processes": not _observe(lambda: processes_with(traps.marker)),
        "capabilities": no_capabilities,
    }


def _load(worker: Worker, source: str = PROBE_SOURCE) -> None:
    load = LoadRequest((SourceChunk(cell=0, line=1, source=source),))
    worker.request(load.header(), [], PROBE_TIMEOUT_S)


def _call(worker: Worker, name: str, *values: Any) -> list[np.ndarray]:
    """Call a probe function with plain arguments (passed as source constants)."""
    _load(worker, f"def {name}_now():\n    return {name}({', '.join(map(repr, values))})\n")
    call = CallRequest(f"{name}_now", (), worker.config.memory_mb)
    reply = CallReply.parse(*worker.request(*call.frame(), PROBE_TIMEOUT_S))
    return list(reply.arrays)


def _observe(check: Any) -> bool:
    """Looked at once the probe call has returned, after a moment for the kernel to deliver."""
    time.sleep(0.05)
    return bool(check())


def _without_capabilities(worker: Worker) -> bool:
    """Read by the parent from /proc: the processes running the worker's Python (where student
    code runs) have no effective, permitted or bounding capability."""
    pids = [worker.process.pid, *descendants(worker.process.pid)]
    found = [status for pid in pids if (status := _worker_status(pid)) is not None]
    fields = ("CapEff:", "CapPrm:", "CapBnd:")
    return bool(found) and all(
        int(line.split()[1], 16) == 0
        for status in found
        for line in status.splitlines()
        if line.startswith(fields)
    )


def _worker_status(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            arguments = cmdline.read().split(b"\0")
        # The launcher (unshare) names the worker's module too, but runs no student code.
        if not os.path.basename(arguments[0]).startswith(b"python"):
            return None
        if b"grader.worker" not in arguments:
            return None
        with open(f"/proc/{pid}/status") as status:
            return status.read()
    except OSError:
        return None


def _bytes(arrays: list[np.ndarray]) -> bytes:
    return bytes(arrays[0].astype(np.uint8).tolist()) if arrays else b""


def _memory_capped(worker: Worker, memory_mb: int) -> bool:
    try:
        return not _call(worker, "memory", memory_mb * 2)
    except (WorkerDied, WorkerTimeout):
        return True
