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
    if config.get("seccomp"):
        report["seccomp"] = _attempt(seccomp.install)
    if config.get("landlock"):
        hidden = [*grader_paths(), *config.get("hidden", [])]
        readable = landlock.runtime_paths()
        devices: list[str] = []
        if config.get("platform", "cpu") != "cpu":
            gpu_readable, devices = landlock.gpu_paths()
            readable += gpu_readable
        if config.get("cache_dir"):
            readable.append(str(config["cache_dir"]))
        report["landlock"] = _attempt(
            lambda: landlock.restrict(readable, [scratch], hidden, devices)
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
