"""The worker's own half of confinement, applied after JAX has started and before student code.

The order matters: seccomp first (loading libseccomp reads files Landlock would then hide), then
Landlock. Each layer reports "active" or why it failed; the parent does not trust these words
and verifies the effect with its canary.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from typing import Any

from grader.worker import landlock, seccomp

GRADER_PACKAGES = ("grader", "reference", "rubrics")


def confine(config: dict[str, Any], scratch: str) -> dict[str, str]:
    report: dict[str, str] = {}
    if config.get("seccomp"):
        report["seccomp"] = _attempt(seccomp.install)
    if config.get("landlock"):
        hidden = [*grader_paths(), *config.get("hidden", [])]
        readable = landlock.runtime_paths()
        if config.get("cache_dir"):
            readable.append(str(config["cache_dir"]))
        report["landlock"] = _attempt(lambda: landlock.restrict(readable, [scratch], hidden))
    return report


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
