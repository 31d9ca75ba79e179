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
from typing import Any, Literal, get_args

from grader.errors import AssignmentError

ArgKind = Literal[
    "array", "diagonal", "symmetric", "spd", "orthogonal", "lower_triangular", "positive",
    "probability", "scalar", "labels", "function",
]  # fmt: skip
ARG_KINDS: tuple[str, ...] = get_args(ArgKind)
SQUARE_KINDS = frozenset({"diagonal", "symmetric", "spd", "orthogonal", "lower_triangular"})
Derivative = Literal["grad", "jacobian", "hessian"]


@dataclass(frozen=True)
class Arg:
    """One argument of the student's function: arguments are passed in the order the problem
    lists them, arrays as float64 arrays of `shape` (symbols are sizes from the rubric).

    Array kinds, each drawn from the case family's distribution (normal or uniform) and scaled
    and shifted by its `scale` and `shift` where that keeps the structure:
    "array" (any entries; symmetrised when the family has `symmetric: true`), "diagonal" (a
    diagonal matrix, passed as the full n x n matrix), "symmetric", "spd" (symmetric positive
    definite: scale * (G G^T / n + I) + |shift| I), "orthogonal" (Q of a QR, times scale),
    "lower_triangular", "positive" (entries scale * exp(z) + |shift|), "probability" (a vector
    on the simplex: softmax of scale * z), "labels" (entries +-1).
    Other kinds: "scalar" (a float drawn uniformly from [low, high]); "function" (one of
    `choices`, a name from messages.SUPPLIED_FUNCTIONS: the objective receives its value, the
    student and the closed form its gradient).
    """

    name: str
    shape: tuple[str | int, ...] = ()
    kind: ArgKind = "array"
    low: float = 0.1
    high: float = 2.0
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ARG_KINDS:
            raise ValueError(
                f"Arg {self.name!r}: unknown kind {self.kind!r} (known: {', '.join(ARG_KINDS)})"
            )
        if self.kind in SQUARE_KINDS and (len(self.shape) != 2 or self.shape[0] != self.shape[1]):
            raise ValueError(
                f"Arg {self.name!r}: kind {self.kind!r} needs a square shape such as ('n', 'n'), "
                f"got {self.shape!r}"
            )
        if self.kind == "probability" and len(self.shape) != 1:
            raise ValueError(f"Arg {self.name!r}: kind 'probability' needs a vector shape")

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
