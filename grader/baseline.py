"""The trusted JAX side, in the grader's own process: reference answers and the autodiff baseline.

Student code never runs here, so the reference values and the baseline timings cannot be
tampered with. Arguments of kind "function" are bound by name: the objective gets the supplied
function's value, the closed form (like the student) its gradient.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from grader import protocol
from grader.assignment import Problem
from grader.errors import UsageError
from grader.inputs import ArgValue

# JAX's "gpu" also asks for ROCm and fails where only CUDA is installed.
DEVICE_PLATFORMS = {"cpu": "cpu", "gpu": "cuda"}
CACHE_ENV = "MATGRADE_CACHE_DIR"
GRADER_CACHE = "grader-xla"
WORKER_CACHE = "worker-xla"


def configure_jax(device: str) -> str:
    """Pick the platform, float64 and the compilation cache of the grader's process.

    This process's persistent cache holds compiled reference closed forms, so workers never see
    it: a student could run those to get the answers, and a cache that student code can write
    to could be poisoned.
    """
    jax = start_jax(device)
    root = cache_root()
    if root is not None:
        use_compilation_cache(jax, root / GRADER_CACHE)
    try:
        first = jax.devices()[0]
    except RuntimeError as error:
        hint = " (install a GPU build of jaxlib, e.g. jax[cuda12])" if device == "gpu" else ""
        raise UsageError(
            f"--device {device}: JAX found no such device here{hint}: {error}"
        ) from error
    return f"{first.platform}:{getattr(first, 'device_kind', '')}".rstrip(":")


def start_jax(device: str) -> Any:
    """Import JAX for `device` in float64 and with the workers' CPU dispatch, and with their XLA
    flags where JAX's backend has not started yet (timing processes get them from their
    environment, see BaselineTimer)."""
    platform = DEVICE_PLATFORMS[device]
    os.environ.update(protocol.timing_environment(os.environ))
    # numpy started OpenBLAS, with a thread per core, before this could set its environment. A
    # norm over 30,000 entries (a comparison) is threaded: with the other core busy it took
    # 0.7-1.1 ms on average instead of 6 us (benchmarks/blas_threads.py), its helper competed
    # with the other lane's timing, and a -j 2 batch took 0.3 s more per notebook, with wider
    # ratio spreads.
    threadpool_limits(1, user_api="blas")
    if platform != "cpu":
        os.environ.update(protocol.GPU_ENV)
    import jax

    jax.config.update("jax_platforms", platform)
    jax.config.update("jax_enable_x64", True)
    jax.config.update(*protocol.SYNC_CPU_DISPATCH)
    return jax


def use_compilation_cache(jax: Any, folder: Path) -> None:
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


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


class ReferenceSide:
    """Closed forms and jitted autodiff baselines of one assignment's problems."""

    def __init__(self) -> None:
        import jax

        self.jax = jax
        self._compiled: dict[tuple[str, ...], Callable[..., Any]] = {}

    def expected(self, problem: Problem, args: Sequence[ArgValue]) -> np.ndarray:
        return self._answer("closed_form", problem.closed_form, problem, args)

    def mistake_answers(self, problem: Problem, args: Sequence[ArgValue]) -> dict[str, np.ndarray]:
        """The problem's known wrong answers on these inputs, by mistake name."""
        return {
            mistake.name: self._answer(f"mistake:{mistake.name}", mistake.answer, problem, args)
            for mistake in problem.mistakes
        }

    def _answer(
        self, name: str, answer: Callable[..., Any], problem: Problem, args: Sequence[ArgValue]
    ) -> np.ndarray:
        """`answer` (closed form or mistake) jitted over the non-function arguments, with the
        function arguments bound to their gradients: one compile per shape."""
        key = (name, *_cache_key(problem, args))
        if key not in self._compiled:
            gradients = self._bind(problem, args, "gradient")
            self._compiled[key] = self.jax.jit(_over_free_args(problem, gradients, answer))
        value = self._compiled[key](*self._array_args(problem, args))
        return np.asarray(value, dtype=np.float64)

    def evaluate_eagerly(self, problem: Problem, args: Sequence[ArgValue]) -> None:
        """The closed form op by op, as students' un-jitted code runs: compiles each op."""
        self.time_eagerly(problem, args, 1)

    def time_eagerly(self, problem: Problem, args: Sequence[ArgValue], calls: int) -> list[float]:
        """The un-jitted closed form timed exactly as a student's answer is (protocol.time_calls):
        arguments already on the device, so a host-to-device copy of the inputs is not timed."""
        closed_form = _over_free_args(
            problem, self._bind(problem, args, "gradient"), problem.closed_form
        )
        values = self._array_args(problem, args)
        return protocol.time_calls(closed_form, values, calls, self.jax.block_until_ready).times

    def autodiff(self, problem: Problem, args: Sequence[ArgValue]) -> np.ndarray:
        function = self.baseline(problem, args)
        return np.asarray(function(*self._array_args(problem, args)), dtype=np.float64)

    def baseline(self, problem: Problem, args: Sequence[ArgValue]) -> Callable[..., Any]:
        """jax.jit(derivative(objective)) over the non-function arguments, cached."""
        key = ("baseline", *_cache_key(problem, args))
        if key not in self._compiled:
            jax = self.jax
            objective = _over_free_args(
                problem, self._bind(problem, args, "value"), problem.objective
            )
            transform = {"grad": jax.grad, "jacobian": jax.jacrev, "hessian": jax.hessian}
            argnum = _free_positions(problem).index(problem.argnum)
            self._compiled[key] = jax.jit(transform[problem.derivative](objective, argnums=argnum))
        return self._compiled[key]

    def time_baseline(
        self, problem: Problem, args: Sequence[ArgValue], calls: int
    ) -> protocol.TimedCalls:
        """Timed exactly as the student's calls are (protocol.time_calls)."""
        function = self.baseline(problem, args)
        values = self._array_args(problem, args)
        return protocol.time_calls(function, values, calls, self.jax.block_until_ready)

    def _array_args(self, problem: Problem, args: Sequence[ArgValue]) -> list[Any]:
        jnp = self.jax.numpy
        return [
            jnp.asarray(value) if isinstance(value, np.ndarray) else value
            for value, spec in zip(args, problem.args, strict=True)
            if spec.kind != "function"
        ]

    def _bind(self, problem: Problem, args: Sequence[ArgValue], part: str) -> list[Any]:
        jnp = self.jax.numpy
        values: list[Any] = []
        for value, spec in zip(args, problem.args, strict=True):
            if spec.kind == "function":
                values.append(protocol.supplied_function(str(value), part))
            elif isinstance(value, np.ndarray):
                values.append(jnp.asarray(value))
            else:
                values.append(value)
        return values


def _free_positions(problem: Problem) -> list[int]:
    return [i for i, spec in enumerate(problem.args) if spec.kind != "function"]


def _cache_key(problem: Problem, args: Sequence[ArgValue]) -> tuple[str, ...]:
    names = (str(a) for a, spec in zip(args, problem.args, strict=True) if spec.kind == "function")
    return (problem.id, *names)


def _over_free_args(
    problem: Problem, bound: list[Any], function: Callable[..., Any]
) -> Callable[..., Any]:
    """`function` of the non-function arguments only, the function arguments fixed to `bound`."""
    free = _free_positions(problem)

    def wrapped(*free_values: Any) -> Any:
        full = list(bound)
        for position, value in zip(free, free_values, strict=True):
            full[position] = value
        return function(*full)

    return wrapped
