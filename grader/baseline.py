"""The trusted JAX side, in the grader's own process: reference answers and the autodiff baseline.

Student code never runs here, so the reference values and the baseline timings cannot be
tampered with. Arguments of kind "function" are bound by name: the objective gets the supplied
function's value, the closed form (like the student) its gradient.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from grader import protocol
from grader.assignment import Problem
from grader.errors import UsageError
from grader.inputs import ArgValue

DEVICE_PLATFORMS = {"cpu": "cpu", "gpu": "gpu"}


def configure_jax(device: str) -> str:
    """Pick the platform and float64 for the grader's process; returns the device's name."""
    import jax

    jax.config.update("jax_platforms", DEVICE_PLATFORMS[device])
    jax.config.update("jax_enable_x64", True)
    try:
        first = jax.devices()[0]
    except RuntimeError as error:
        raise UsageError(f"--device {device}: no such JAX backend here ({error})") from error
    return f"{first.platform}:{getattr(first, 'device_kind', '')}".rstrip(":")


class ReferenceSide:
    """Closed forms and jitted autodiff baselines of one assignment's problems."""

    def __init__(self) -> None:
        import jax

        self.jax = jax
        self._baselines: dict[tuple[str, tuple[str, ...]], Callable[..., Any]] = {}

    def expected(self, problem: Problem, args: Sequence[ArgValue]) -> np.ndarray:
        values = self._bind(problem, args, "gradient")
        return np.asarray(problem.closed_form(*values), dtype=np.float64)

    def autodiff(self, problem: Problem, args: Sequence[ArgValue]) -> np.ndarray:
        function = self.baseline(problem, args)
        return np.asarray(function(*self._array_args(problem, args)), dtype=np.float64)

    def baseline(self, problem: Problem, args: Sequence[ArgValue]) -> Callable[..., Any]:
        """jax.jit(derivative(objective)) over the non-function arguments, cached."""
        names = tuple(str(a) for a, spec in zip(args, problem.args) if spec.kind == "function")
        key = (problem.id, names)
        if key not in self._baselines:
            self._baselines[key] = self._build_baseline(problem, args)
        return self._baselines[key]

    def _build_baseline(self, problem: Problem, args: Sequence[ArgValue]) -> Callable[..., Any]:
        jax = self.jax
        bound = self._bind(problem, args, "value")
        free = [i for i, spec in enumerate(problem.args) if spec.kind != "function"]

        def objective(*free_values: Any) -> Any:
            full = list(bound)
            for position, value in zip(free, free_values):
                full[position] = value
            return problem.objective(*full)

        transform = {"grad": jax.grad, "jacobian": jax.jacrev, "hessian": jax.hessian}
        argnum = free.index(problem.argnum)
        return jax.jit(transform[problem.derivative](objective, argnums=argnum))

    def time_baseline(self, problem: Problem, args: Sequence[ArgValue], calls: int) -> list[float]:
        function = self.baseline(problem, args)
        values = self._array_args(problem, args)
        block = self.jax.block_until_ready
        block(function(*values))
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            block(function(*values))
            times.append(time.perf_counter() - start)
        return times

    def _array_args(self, problem: Problem, args: Sequence[ArgValue]) -> list[Any]:
        jnp = self.jax.numpy
        return [
            jnp.asarray(value) if isinstance(value, np.ndarray) else value
            for value, spec in zip(args, problem.args)
            if spec.kind != "function"
        ]

    def _bind(self, problem: Problem, args: Sequence[ArgValue], part: str) -> list[Any]:
        jnp = self.jax.numpy
        values: list[Any] = []
        for value, spec in zip(args, problem.args):
            if spec.kind == "function":
                values.append(protocol.supplied_function(str(value), part))
            elif isinstance(value, np.ndarray):
                values.append(jnp.asarray(value))
            else:
                values.append(value)
        return values
