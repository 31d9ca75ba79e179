"""The small API an instructor uses to describe an assignment's problems in a reference module.

A reference module defines `PROBLEMS`, a sequence of `Problem`. Each problem names its
arguments (`Arg`: symbolic shape and kind), its objective written in JAX, which derivative of the
objective is asked for, and the instructor's closed form of that derivative. The grader derives
the autodiff baseline (`jax.jit(jax.grad(objective))` and friends) from the objective, so the
closed form and the baseline can be checked against each other.

The reference module is imported only in the grader's process; student code never sees it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from grader.errors import AssignmentError

ArgKind = Literal["array", "spd", "scalar", "labels", "function"]
Derivative = Literal["grad", "jacobian", "hessian"]


@dataclass(frozen=True)
class Arg:
    """One argument of the student's function.

    kind "array": float64 array of `shape` (symbols are sizes from the rubric), drawn from the
    rubric's distribution (symmetrised for families with `symmetric: true`); "spd": a square
    symmetric positive definite matrix; "labels": array of +-1; "scalar": a float drawn uniformly
    from [low, high]; "function": one of `choices`, a name from protocol.SUPPLIED_FUNCTIONS; the
    objective receives its value, the student and the closed form its gradient.
    """

    name: str
    shape: tuple[str | int, ...] = ()
    kind: ArgKind = "array"
    low: float = 0.1
    high: float = 2.0
    choices: tuple[str, ...] = ()

    def concrete_shape(self, sizes: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(dim if isinstance(dim, int) else sizes[dim] for dim in self.shape)

    def symbols(self) -> set[str]:
        return {dim for dim in self.shape if isinstance(dim, str)}


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer, computed from the same arguments as the closed form: when the
    student's result matches it, the feedback gives `hint` (never the hidden values)."""

    name: str
    answer: Callable[..., Any]
    hint: str


@dataclass(frozen=True)
class Problem:
    """One gradable problem: what the student computes and how the grader checks it."""

    id: str
    title: str
    args: tuple[Arg, ...]
    objective: Callable[..., Any]
    closed_form: Callable[..., Any]
    derivative: Derivative = "grad"
    argnum: int = 0
    hints: Mapping[str, str] = field(default_factory=dict)
    mistakes: tuple[Mistake, ...] = ()

    def mistake_hint(self, name: str) -> str:
        return next((m.hint for m in self.mistakes if m.name == name), "")

    def symbols(self) -> set[str]:
        return set().union(*(arg.symbols() for arg in self.args))

    def arg_names(self) -> list[str]:
        return [arg.name for arg in self.args]


@dataclass(frozen=True)
class Assignment:
    """A loaded reference module: its problems by id and where it came from."""

    path: Path
    problems: Mapping[str, Problem]


def load_assignment(path: Path) -> Assignment:
    """Import the reference module at `path` (trusted instructor code) and check its PROBLEMS."""
    if not path.is_file():
        raise AssignmentError(path, "reference module not found")
    module_name = f"matgrade_reference_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AssignmentError(path, "not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise AssignmentError(path, f"importing failed: {type(error).__name__}: {error}") from error
    return Assignment(path=path, problems=_problems_of(module, path))


def _problems_of(module: Any, path: Path) -> dict[str, Problem]:
    problems = getattr(module, "PROBLEMS", None)
    if not problems or not all(isinstance(p, Problem) for p in problems):
        raise AssignmentError(path, "must define PROBLEMS, a non-empty sequence of Problem")
    by_id = {problem.id: problem for problem in problems}
    if len(by_id) != len(problems):
        raise AssignmentError(path, "PROBLEMS has duplicate ids")
    return by_id
