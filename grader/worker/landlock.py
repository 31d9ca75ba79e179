"""Landlock through ctypes: the worker confines itself before any student code runs.

Allowed afterwards: reading (and executing) the Python runtime and the system libraries, reading
and writing the scratch directory. Everything else is invisible: the grader's package, the
reference module, rubrics, the secret, the results folder, other students' notebooks, /proc (the
grader's environment). With ABI >= 4 all TCP binds and connects are refused; with ABI >= 6 the
worker cannot signal processes outside its domain or reach their abstract unix sockets.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from collections.abc import Iterable

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
MAKE_ALL_AND_REMOVE = sum(1 << bit for bit in range(4, 13))
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

# /proc/cpuinfo: without it XLA's CPU backend cannot detect the processor, skips XNNPACK and runs
# student code 2-4x slower than the baseline in the grader, which would skew every speed ratio.
SYSTEM_READ_ONLY = (
    "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/localtime", "/proc/cpuinfo"
)  # fmt: skip
DEVICES_READ_WRITE = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
# What CUDA reads and opens after start-up (drivers, topology, the device files it drives with
# ioctl); only for GPU workers.
GPU_READ_ONLY = ("/proc/driver/nvidia", "/sys", "/usr/local/nvidia", "/usr/local/cuda")
GPU_DEVICE_PATTERNS = ("/dev/nvidia*", "/dev/nvidia-caps")


class RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI, or 0 where Landlock is missing or disabled."""
    version = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(int(version), 0)


def fs_rights(abi: int) -> int:
    rights = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | MAKE_ALL_AND_REMOVE
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(
    read_only: Iterable[str],
    read_write: Iterable[str],
    hidden: Iterable[str],
    devices: Iterable[str] = (),
    unlisted: Iterable[str] = (),
) -> int:
    """Apply the ruleset to this process and its future children; returns the ABI used.
    `devices` may be opened read-write and driven with ioctl (GPUs); files in the folders
    `unlisted` may be read by name, but the folders cannot be listed."""
    abi = abi_version()
    if abi == 0:
        raise OSError("Landlock is not supported by this kernel")
    handled = fs_rights(abi)
    attr = RulesetAttr(handled_access_fs=handled)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = _check(
        _libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    )
    try:
        hidden_paths = [os.path.realpath(path) for path in hidden]
        reading = READ_FILE | READ_DIR | EXECUTE
        for path in read_only:
            _allow_except(ruleset, os.path.realpath(path), reading, hidden_paths)
        for path in read_write:
            _allow(ruleset, os.path.realpath(path), handled)
        for path in unlisted:
            _allow(ruleset, os.path.realpath(path), READ_FILE)
        for path in DEVICES_READ_WRITE:
            _allow(ruleset, path, READ_FILE | WRITE_FILE)
        for path in devices:
            _allow(ruleset, path, (READ_FILE | WRITE_FILE | IOCTL_DEV) & handled)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        _check(_libc.syscall(SYS_RESTRICT_SELF, ruleset, 0))
    finally:
        os.close(ruleset)
    return abi


def gpu_paths() -> tuple[list[str], list[str]]:
    """(read-only paths, device files) a GPU worker needs, those present here."""
    devices = sorted({path for pattern in GPU_DEVICE_PATTERNS for path in glob.glob(pattern)})
    return [path for path in GPU_READ_ONLY if os.path.exists(path)], devices


def runtime_paths() -> list[str]:
    """What the worker must keep reading: the interpreter, its libraries, system libraries."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, *SYSTEM_READ_ONLY}
    paths.update(entry for entry in sys.path if entry and os.path.isabs(entry))
    return sorted(path for path in paths if os.path.exists(path))


def _allow_except(ruleset: int, path: str, rights: int, hidden: list[str]) -> None:
    """Allow `path`, but where a hidden path lies below it allow only its other entries."""
    if any(path == h or path.startswith(h + os.sep) for h in hidden):
        return
    inside = [h for h in hidden if h.startswith(path.rstrip(os.sep) + os.sep)]
    if not inside or not os.path.isdir(path):
        _allow(ruleset, path, rights)
        return
    _allow(ruleset, path, READ_DIR)
    for entry in os.listdir(path):
        _allow_except(ruleset, os.path.join(path, entry), rights, hidden)


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
        rule = PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _check(_libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0))
    finally:
        os.close(fd)


def _check(result: int) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return result
