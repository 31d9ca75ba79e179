"""Which confinement layers this machine offers, and the parent's half of applying them.

Layers (each detected here, applied at launch, and verified by the canary):
- limits: rlimits set by the worker itself; always on.
- landlock, seccomp: applied by the worker to itself after importing JAX, before student code.
- namespaces: `unshare` puts the worker in new PID, network, IPC and UTS namespaces; the worker
  is PID 1 there, so killing it kills everything it started, and it has no network at all.
- uid: as root, the worker runs as an unprivileged uid (needs a world-readable Python).
- cgroup: a memory cap that also catches mmap and tmpfs, a task limit, OOM detection.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LAYERS = ("limits", "landlock", "seccomp", "namespaces", "uid", "cgroup")
UNPRIVILEGED_UID = 65534
TASKS_MAX = 512  # XLA starts a thread per core and a few pools; threads count as tasks
NAMESPACE_FLAGS = [
    "--pid",
    "--fork",
    "--kill-child",
    "--net",
    "--ipc",
    "--uts",
    "--mount",
    "--mount-proc",
]
SCRATCH_TMPFS_MB = 256


@dataclass(frozen=True)
class Layer:
    name: str
    available: bool
    reason: str = ""

    def describe(self) -> str:
        return "active" if self.available else f"unavailable: {self.reason}"


@dataclass(frozen=True)
class Confinement:
    """The layers a worker is launched with, decided once per run."""

    layers: dict[str, Layer]
    command_prefix: tuple[str, ...] = ()
    uid: int | None = None
    cgroup_roots: dict[str, Path] = field(default_factory=dict)

    def active(self, name: str) -> bool:
        return self.layers[name].available

    def describe(self) -> dict[str, str]:
        return {name: layer.describe() for name, layer in self.layers.items()}

    def scratch_tmpfs_mb(self) -> int | None:
        """A private, size-capped tmpfs for the worker's scratch folder, where it can mount one:
        in its own mount namespace, before any privilege is dropped."""
        if self.active("namespaces") and not self.active("uid"):
            return SCRATCH_TMPFS_MB
        return None


def detect(disabled: frozenset[str] = frozenset()) -> Confinement:
    found = {
        "limits": Layer("limits", True),
        "landlock": _landlock(),
        "seccomp": _seccomp(),
        "namespaces": _namespaces(),
        "uid": _uid(),
        "cgroup": _cgroup(),
    }
    for name in disabled:
        found[name] = Layer(name, False, "disabled by --disable-layers")
    prefix = tuple(_unshare_command()) if found["namespaces"].available else ()
    uid = UNPRIVILEGED_UID if found["uid"].available else None
    roots = cgroup_roots() if found["cgroup"].available else {}
    remove_stale_cgroups(roots)
    return Confinement(found, prefix, uid, roots)


def _landlock() -> Layer:
    from grader.worker.landlock import abi_version

    abi = abi_version()
    if abi == 0:
        return Layer("landlock", False, "the kernel has no Landlock (or it is disabled)")
    if abi < 4:
        return Layer("landlock", True, f"ABI {abi}: files only, TCP not covered")
    return Layer("landlock", True, f"ABI {abi}")


def _seccomp() -> Layer:
    if ctypes.util.find_library("seccomp") is None:
        return Layer("seccomp", False, "libseccomp is not installed (apt install libseccomp2)")
    return Layer("seccomp", True)


def _unshare_command() -> list[str]:
    command = ["unshare", *NAMESPACE_FLAGS]
    if os.geteuid() != 0:
        command.insert(1, "--map-root-user")
    return command


def _namespaces() -> Layer:
    if shutil.which("unshare") is None:
        return Layer("namespaces", False, "util-linux 'unshare' is not installed")
    try:
        probe = subprocess.run(
            [*_unshare_command(), "true"], capture_output=True, text=True, timeout=10, env={}
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Layer("namespaces", False, f"unshare failed: {error}")
    if probe.returncode != 0:
        detail = probe.stderr.strip().splitlines()[-1:] or [f"exit {probe.returncode}"]
        return Layer("namespaces", False, f"unshare refused: {detail[0]}")
    return Layer("namespaces", True)


def _uid() -> Layer:
    if os.geteuid() != 0:
        return Layer("uid", False, "not running as root (the grader's own uid is used)")
    for path in (Path(sys.executable).resolve(), Path(sys.prefix), Path(sys.base_prefix)):
        blocked = _first_closed_directory(path)
        if blocked is not None:
            return Layer("uid", False, f"{blocked} is not readable by other users")
    return Layer("uid", True)


def _first_closed_directory(path: Path) -> Path | None:
    for parent in [*reversed(path.parents), path]:
        if parent.is_dir() and parent.stat().st_mode & 5 != 5:
            return parent
    return None


def cgroup_roots() -> dict[str, Path]:
    """Writable cgroup folders of this process for the memory and pids controllers."""
    own = _own_cgroups()
    unified = Path("/sys/fs/cgroup")
    if "" in own and (unified / "cgroup.controllers").exists():
        root = unified / own[""].lstrip("/")
        # Children get a controller only if this group hands it down (subtree_control), which
        # cgroup v2 allows only while no process sits in this group itself: a systemd scope
        # delegated to matgrade alone, for instance (see README, Security).
        handed_down = (root / "cgroup.subtree_control").read_text().split()
        if {"memory", "pids"} <= set(handed_down) and os.access(root, os.W_OK):
            return {"v2": root}
    roots = {}
    for controller in ("memory", "pids"):
        path = unified / controller / own.get(controller, "/").lstrip("/")
        if path.is_dir() and os.access(path, os.W_OK):
            roots[controller] = path
    return roots if set(roots) == {"memory", "pids"} else {}


def _own_cgroups() -> dict[str, str]:
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


def _cgroup() -> Layer:
    try:
        roots = cgroup_roots()
    except OSError as error:
        return Layer("cgroup", False, f"cannot read cgroups: {error}")
    if not roots:
        return Layer("cgroup", False, "no writable memory and pids cgroup for this process")
    return Layer("cgroup", True, "v2" if "v2" in roots else "v1")


def owner_is_gone(pid: str) -> bool:
    """Whether the grader whose pid a leftover's name carries has ended (killed, never cleaned)."""
    return pid.isdigit() and not Path(f"/proc/{pid}").exists()


def remove_stale_cgroups(roots: dict[str, Path]) -> None:
    """Empty cgroups left by a grader that was killed (its pid, in the name, is gone)."""
    for root in roots.values():
        for folder in root.glob("matgrade-*-*"):
            if owner_is_gone(folder.name.split("-")[1]):
                with contextlib.suppress(OSError):
                    folder.rmdir()


class WorkerCgroup:
    """One worker's cgroup(s): memory cap without swap, task limit, OOM count, cleanup."""

    def __init__(self, roots: dict[str, Path], name: str, memory_bytes: int) -> None:
        self.paths = {kind: root / name for kind, root in roots.items()}
        for kind, path in self.paths.items():
            path.mkdir(exist_ok=True)
            if kind == "v2":
                _write(path / "memory.max", memory_bytes)
                _write(path / "memory.swap.max", 0, optional=True)
                _write(path / "pids.max", TASKS_MAX)
            elif kind == "memory":
                _write(path / "memory.limit_in_bytes", memory_bytes)
                _write(path / "memory.memsw.limit_in_bytes", memory_bytes, optional=True)
            else:
                _write(path / "pids.max", TASKS_MAX)

    def add(self, pids: set[int]) -> None:
        for path in self.paths.values():
            for pid in sorted(pids):
                try:
                    _write(path / "cgroup.procs", pid)
                except OSError:
                    continue  # already gone

    def oom_killed(self) -> bool:
        for kind, path in self.paths.items():
            events = path / ("memory.events" if kind == "v2" else "memory.oom_control")
            if kind in ("v2", "memory") and events.exists():
                for line in events.read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value or 0) > 0:
                        return True
        return False

    def remove(self) -> None:
        for path in self.paths.values():
            with contextlib.suppress(OSError):
                path.rmdir()


def _write(path: Path, value: int, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise
