"""Resource limits the worker applies to itself before any JAX or student code is loaded."""

from __future__ import annotations

import contextlib
import ctypes
import resource
from typing import Any

MIB = 1024 * 1024
# XLA reserves far more address space than it touches (one malloc arena per thread), so the
# address-space limit is only a loose backstop above the data limit (measured: JAX needs ~1.4 GB
# of address space with 2 cores but ~220 MB of data).
ADDRESS_SPACE_SLACK = 4096 * MIB
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
SIGKILL = 9


def apply_limits(config: dict[str, Any]) -> None:
    memory = int(config["memory_mb"]) * MIB
    _set(resource.RLIMIT_CORE, 0)
    _set(resource.RLIMIT_CPU, int(config["cpu_s"]), int(config["cpu_s"]) + 5)
    _set(resource.RLIMIT_FSIZE, int(config["file_mb"]) * MIB)
    _set(resource.RLIMIT_NOFILE, 256)
    # No real-time scheduling and no priority above the default, even where seccomp is missing
    # (a process with CAP_SYS_NICE, root's, passes these; seccomp refuses the calls outright).
    _set(resource.RLIMIT_RTPRIO, 0)
    _set(resource.RLIMIT_NICE, 0)
    if config.get("platform", "cpu") == "cpu":
        # CUDA maps tens of GB of address space for unified memory at start-up, so on a GPU
        # these limits would stop every worker; there the cgroup layer caps host memory.
        _set(resource.RLIMIT_DATA, memory)
        _set(resource.RLIMIT_AS, memory + ADDRESS_SPACE_SLACK)
    _prctl(PR_SET_PDEATHSIG, SIGKILL)
    # Orphaned grandchildren re-parent to the worker instead of init, so the parent can find
    # and kill the whole tree by walking parent links from the worker.
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_memory_limit(memory_mb: int) -> None:
    """Lower the soft data limit for one problem (the hard limit stays the worker-wide cap)."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard == resource.RLIM_INFINITY:
        return  # no worker-wide data limit (a GPU worker): nothing to lower
    soft = min(memory_mb * MIB, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _set(which: int, soft: int, hard: int | None = None) -> None:
    resource.setrlimit(which, (soft, soft if hard is None else hard))


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
