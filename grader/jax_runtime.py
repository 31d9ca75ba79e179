"""How every process here starts JAX: the device, float64, one compute thread, inline dispatch,
steady memory, and the compilation caches.

Imported by the worker before any student code runs: the standard library only at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.errors import UsageError

# JAX's "gpu" also asks for ROCm and fails where only CUDA is installed.
DEVICE_PLATFORMS = {"cpu": "cpu", "gpu": "cuda"}
CACHE_ENV = "MATGRADE_CACHE_DIR"
GRADER_CACHE = "grader-xla"
WORKER_CACHE = "worker-xla"

# One compute thread per process, XLA's and LAPACK's (OpenBLAS, which jaxlib's linear algebra
# calls): an op split over threads on a busy machine waits for a descheduled or spinning helper,
# so a round's time depends on what else runs; and -j N workers then share N cores without
# taking each other's. Read when the libraries load: set in the environment a process starts
# with. The measurements behind this and the settings below are in docs/performance.md.
CPU_XLA_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")
ONE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# On a GPU, JAX takes 75% of the card's memory per process at start-up; the grader, the timer and
# the workers share one card, so each takes only what it uses.
GPU_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}

# Freed memory stays in the process (still under its memory limits) instead of going back to the
# kernel: otherwise eager code faults its intermediates in again on every call, and what a call
# costs depends on the heap's history. Read once, when a process starts.
STEADY_MALLOC_TUNABLES = (
    "glibc.malloc.mmap_threshold=33554432",
    "glibc.malloc.trim_threshold=1073741824",
)

# Each computation runs on the calling thread: on one pinned core an executor thread overlaps
# nothing, costs two context switches per dispatch, and whether caller or executor runs first
# varies by round and by process. Read when JAX's CPU backend starts.
SYNC_CPU_DISPATCH = ("jax_cpu_enable_async_dispatch", False)


def timing_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a process that runs timed code: one compute thread, freed memory kept. Flags
    and tunables already there are kept."""
    flags = _merged(env.get("XLA_FLAGS", "").split(), CPU_XLA_FLAGS)
    tunables = _merged(env.get("GLIBC_TUNABLES", "").split(":"), STEADY_MALLOC_TUNABLES)
    return {
        **env,
        **ONE_THREAD_ENV,
        "XLA_FLAGS": " ".join(flags),
        "GLIBC_TUNABLES": ":".join(tunables),
    }


def _merged(given: list[str], wanted: Sequence[str]) -> list[str]:
    kept = [item for item in given if item]
    return kept + [item for item in wanted if item not in kept]


def start_jax(platform: str, cache_dir: Path | str | None = None) -> Any:
    """Import JAX on `platform` in float64 with inline CPU dispatch, with the timing processes'
    XLA flags where JAX's backend has not started yet, and `cache_dir` as its compilation cache."""
    os.environ.update(timing_environment(os.environ))
    if platform != "cpu":
        os.environ.update(GPU_ENV)
    os.environ["JAX_PLATFORMS"] = platform
    os.environ["JAX_ENABLE_X64"] = "1"
    import jax

    jax.config.update("jax_platforms", platform)
    jax.config.update("jax_enable_x64", True)
    jax.config.update(*SYNC_CPU_DISPATCH)
    if cache_dir is not None:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return jax


def device_name(jax: Any) -> str:
    device = jax.devices()[0]
    return f"{device.platform}:{getattr(device, 'device_kind', '')}".rstrip(":")


def configure_jax(device: str) -> str:
    """Start JAX in the grader's process for `device` ("cpu" or "gpu"); returns the device name.

    This process's persistent cache holds compiled reference closed forms, so workers never see
    it: a student could run those to get the answers, and a cache that student code can write
    to could be poisoned.
    """
    from threadpoolctl import threadpool_limits

    # numpy started OpenBLAS with a thread per core before the environment above could be set:
    # a threaded comparison would compete with the other lane's timing.
    threadpool_limits(1, user_api="blas")
    root = cache_root()
    jax = start_jax(DEVICE_PLATFORMS[device], root / GRADER_CACHE if root else None)
    try:
        return device_name(jax)
    except RuntimeError as error:
        hint = " (install a GPU build of jaxlib, e.g. jax[cuda12])" if device == "gpu" else ""
        message = f"{device}: JAX found no such device here{hint}: {error}"
        raise UsageError(message, option="device") from error


def cache_root() -> Path | None:
    """The compilation caches' folder, None when turned off or unusable (cache_warning)."""
    root = _configured_cache_root()
    return root if root is not None and _writable_folder(root) else None


def cache_warning() -> str | None:
    """Why the configured cache folder is not used (a read-only home in a CI container, say):
    grading goes on without it, compiling everything, which is slower."""
    root = _configured_cache_root()
    if root is None or _writable_folder(root):
        return None
    return (
        f"cannot write the compilation cache {root}: grading without it (slower); set "
        f"${CACHE_ENV} to a writable folder, or to an empty value to turn caching off"
    )


def _configured_cache_root() -> Path | None:
    """$MATGRADE_CACHE_DIR ("" turns caching off), else ~/.cache/matgrade."""
    configured = os.environ.get(CACHE_ENV)
    if configured == "":
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(configured) if configured else base / "matgrade"


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)
