"""The worker's own half of confinement, applied after JAX has started and before student code.

The order matters: seccomp first (loading libseccomp reads files Landlock would then hide), then
Landlock. Each layer reports "active" or why it failed; the parent does not trust these words
and verifies the effect with its canary.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import sys
from typing import Any

from grader.worker import landlock, seccomp

GRADER_PACKAGES = ("grader", "reference", "rubrics")


def confine(config: dict[str, Any], scratch: str) -> dict[str, str]:
    report: dict[str, str] = {}
    if config.get("tmpfs_mb"):
        report["scratch"] = _attempt(lambda: mount_scratch(scratch, int(config["tmpfs_mb"])))
    if os.geteuid() == 0:
        report["capabilities"] = _attempt(drop_capabilities)
    if config.get("seccomp"):
        report["seccomp"] = _attempt(seccomp.install)
    if config.get("landlock"):
        hidden = [*grader_paths(), *config.get("hidden", [])]
        readable = landlock.runtime_paths()
        devices: list[str] = []
        if config.get("platform", "cpu") != "cpu":
            gpu_readable, devices = landlock.gpu_paths()
            readable += gpu_readable
        # The compile cache is read by key (JAX opens `<key>-cache` by name): its listing would
        # name the reference's operations (jit_det, jit_inv, ...), so it is not allowed.
        cache = [str(config["cache_dir"])] if config.get("cache_dir") else []
        report["landlock"] = _attempt(
            lambda: landlock.restrict(readable, [scratch], hidden, devices, unlisted=cache)
        )
    return report


MS_NOSUID, MS_NODEV = 2, 4


def mount_scratch(scratch: str, size_mb: int) -> None:
    """A size-capped tmpfs over the scratch folder: the worker cannot fill the grader's disk.
    Only possible in the worker's own mount namespace (see layers.NAMESPACE_FLAGS)."""
    libc = ctypes.CDLL(None, use_errno=True)
    options = f"size={size_mb}m,mode=0700".encode()
    flags = MS_NOSUID | MS_NODEV
    if libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", flags, options) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    os.chdir(scratch)  # the old cwd is the folder under the mount


PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> None:
    """A worker running as root (where the uid layer is unavailable) keeps none of root's
    capabilities: no real-time scheduling or higher priority past its rlimits (CAP_SYS_NICE), no
    reading past file permissions (CAP_DAC_*), none regained by running a program (the bounding
    set is emptied too). Done after the scratch mount, which needs CAP_SYS_ADMIN."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/sys/kernel/cap_last_cap") as stream:
        last = int(stream.read())
    for capability in range(last + 1):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            _raise_errno(libc)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        _raise_errno(libc)


def _raise_errno(libc: Any) -> None:
    errno = ctypes.get_errno()
    raise OSError(errno, os.strerror(errno))


def _attempt(apply: Any) -> str:
    try:
        result = apply()
    except OSError as error:
        return f"failed: {error}"
    return f"active (ABI {result})" if isinstance(result, int) else "active"


def grader_paths() -> list[str]:
    """The grader's code, the reference modules and rubrics, and matgrade's install records."""
    paths = []
    for name in GRADER_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths += list(spec.submodule_search_locations)
    for folder in sys.path:
        if os.path.isdir(folder):
            paths += glob.glob(os.path.join(folder, "matgrade-*"))
            paths += glob.glob(os.path.join(folder, "__editable__*matgrade*"))
    return paths
