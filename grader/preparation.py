"""The ground a grading runs on: the workers' configuration, the canary's verdict on the
sandbox, and the workers' read-only compilation cache."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from grader import __version__
from grader.digests import rubric_digest
from grader.errors import SandboxError, UsageError
from grader.jax_runtime import CPU_XLA_FLAGS, DEVICE_PLATFORMS, WORKER_CACHE, cache_root
from grader.models import SandboxReport
from grader.rubric import LoadedRubric
from grader.sandbox import WorkerConfig
from grader.sandbox.canary import PROTECTIONS, run_canary
from grader.sandbox.layers import LAYERS, Confinement


def worker_config_for(
    rubric: LoadedRubric, device: str, confinement: Confinement, hidden: tuple[Path, ...]
) -> WorkerConfig:
    limits = [p.limits for p in rubric.rubric.problems.values()]
    memory = max(limit.memory_mb for limit in limits)
    cpu = int(sum(limit.time_limit_s for limit in limits) * 4 + 120)
    return WorkerConfig(
        platform=DEVICE_PLATFORMS[device],
        memory_mb=memory,
        cpu_s=cpu,
        confinement=confinement,
        hidden=tuple(str(path.resolve()) for path in hidden),
    )


WARMUP_TIMEOUT_S = 300.0


def warm_worker_cache(rubric: LoadedRubric, device: str, confinement: Confinement) -> Path | None:
    """The workers' read-only compilation cache, filled first by a trusted process if needed.

    Only where Landlock makes the cache read-only for workers: a cache one student can write to
    would be loaded by the next. Filled once per rubric, reference and JAX version.
    """
    root = cache_root()
    if root is None or not confinement.active("landlock"):
        return None
    cache = root / WORKER_CACHE
    marker = cache / f"warm-{_warmup_key(rubric)}"
    if marker.exists():
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    config = {"rubric": str(rubric.path.resolve()), "cache": str(cache), "device": device}
    try:
        subprocess.run(
            [sys.executable, "-I", "-m", "grader.warmup", json.dumps(config)],
            capture_output=True,
            timeout=WARMUP_TIMEOUT_S,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None  # workers then compile everything themselves: slower, still correct
    marker.touch()
    return cache


def _warmup_key(rubric: LoadedRubric) -> str:
    import jax

    # Compiled code is keyed by XLA's flags too: the workers' flags are part of the key.
    versions = f"{jax.__version__} {__version__} {CPU_XLA_FLAGS}".encode()
    return hashlib.sha256(rubric_digest(rubric).encode() + versions).hexdigest()[:16]


def verify_sandbox(config: WorkerConfig, required: frozenset[str]) -> SandboxReport:
    """Run the canary under the students' configuration; refuse if a required protection fails."""
    unknown = required - set(PROTECTIONS) - set(LAYERS)
    if unknown:
        known = ", ".join([*PROTECTIONS, *LAYERS])
        names = ", ".join(sorted(unknown))
        raise UsageError(f"unknown {names} (known: {known})", option="require")
    canary = run_canary(config)
    report = SandboxReport(level=canary.level, layers=canary.layers, protections=canary.protections)
    missing = sorted(
        name
        for name in required
        if not report.protections.get(name, False)
        and not report.layers.get(name, "").startswith("active")
    )
    if missing:
        raise SandboxError(
            f"refusing to grade: required protection missing: {', '.join(missing)} "
            f"(layers: {_layer_summary(report)})"
        )
    return report


def _layer_summary(report: SandboxReport) -> str:
    return "; ".join(f"{name} {state}" for name, state in report.layers.items())
