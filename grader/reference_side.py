"""The trusted JAX side, in the grader's and the timer's processes: reference answers, the
reference's known mistakes, and the jitted autodiff baseline.

Student code never runs here, so the reference values and the baseline timings cannot be
tampered with. Arguments of kind "function" are bound by name: the objective gets the supplied
function's value, the closed form (like the student) its gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from grader.assignment import Problem
from grader.messages import ArgValue, supplied_function
from grader.timed_loop import TimedCalls, time_calls


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
        """The un-jitted closed form timed exactly as a student's answer is (time_calls):
        arguments already on the device, so a host-to-device copy of the inputs is not timed."""
        closed_form = _over_free_args(
            problem, self._bind(problem, args, "gradient"), problem.closed_form
        )
        values = self._array_args(problem, args)
        return time_calls(closed_form, values, calls, self.jax.block_until_ready).times

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

    def time_baseline(self, problem: Problem, args: Sequence[ArgValue], calls: int) -> TimedCalls:
        """Timed exactly as the student's calls are (time_calls)."""
        function = self.baseline(problem, args)
        values = self._array_args(problem, args)
        return time_calls(function, values, calls, self.jax.block_until_ready)

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
                values.append(supplied_function(str(value), part))
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
