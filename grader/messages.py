"""The typed vocabulary between the grader's side (grader, trusted timer, canary) and a worker:
every request and reply is built and validated here, and nowhere else.

Requests come from trusted code; replies come from a process that runs hostile code, so each
`parse` believes no field: wrong types become safe defaults, unknown kinds are dropped, and
every string is capped. This module is imported by the worker too: numpy only at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Header = dict[str, Any]
ArgValue = np.ndarray | float | str  # an array, a scalar, or a supplied function's name
LoadProblemKind = Literal["import_error", "definition_error"]
LOAD_PROBLEM_KINDS: tuple[LoadProblemKind, ...] = ("import_error", "definition_error")
TEXT_CAP = 4000  # characters of any one string a worker sends
NAMES_CAP = 1000  # callables a load reply may list
NOTES_CAP = 100  # load problems a reply may list: more tell the student nothing more
DEFAULT_MEMORY_MB = 4096


def capped(value: object, cap: int = TEXT_CAP) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= cap else text[:cap] + "..."


@dataclass(frozen=True)
class SourceChunk:
    """Extracted source of one cell, run by the worker at `line` of cell `cell` (0-based)."""

    cell: int
    line: int
    source: str
    is_import: bool = False


@dataclass(frozen=True)
class LoadRequest:
    chunks: tuple[SourceChunk, ...]
    candidates: tuple[str, ...] = ()

    def header(self) -> Header:
        chunks = [vars(chunk) for chunk in self.chunks]
        return {"op": "load", "chunks": chunks, "candidates": list(self.candidates)}

    @classmethod
    def parse(cls, header: Mapping[str, Any]) -> LoadRequest:
        chunks = tuple(SourceChunk(**chunk) for chunk in header["chunks"])
        return cls(chunks, tuple(str(name) for name in header.get("candidates", [])))


@dataclass(frozen=True)
class CallRequest:
    function: str
    args: tuple[ArgValue, ...]
    memory_mb: int = DEFAULT_MEMORY_MB

    def frame(self) -> tuple[Header, list[np.ndarray]]:
        specs, arrays = encode_args(self.args)
        memory = self.memory_mb or DEFAULT_MEMORY_MB
        return {"op": "call", "function": self.function, "args": specs, "memory_mb": memory}, arrays

    @classmethod
    def parse(cls, header: Mapping[str, Any], arrays: Sequence[np.ndarray]) -> CallRequest:
        args = tuple(decode_args(header["args"], arrays))
        return cls(str(header["function"]), args, int(header.get("memory_mb", DEFAULT_MEMORY_MB)))


@dataclass(frozen=True)
class TimedCallsRequest:
    """Opens a timed-call session (grader.stream) with the given layout as JSON."""

    function: str
    layout: Mapping[str, Any]
    supplied: tuple[str | None, ...]  # per argument: a supplied function's name, else None
    memory_mb: int = DEFAULT_MEMORY_MB

    def header(self) -> Header:
        return {
            "op": "timed_calls",
            "function": self.function,
            "layout": dict(self.layout),
            "supplied": list(self.supplied),
            "memory_mb": self.memory_mb,
        }

    @classmethod
    def parse(cls, header: Mapping[str, Any]) -> TimedCallsRequest:
        supplied = tuple(None if name is None else str(name) for name in header["supplied"])
        memory = int(header.get("memory_mb", DEFAULT_MEMORY_MB))
        return cls(str(header["function"]), header["layout"], supplied, memory)


EXIT_REQUEST: Header = {"op": "exit"}


@dataclass(frozen=True)
class Hello:
    """The worker's first frame: it started and confined itself."""

    jax: str
    device: str
    layers: Mapping[str, str]

    def header(self) -> Header:
        return {"ok": True, "jax": self.jax, "device": self.device, "layers": dict(self.layers)}


@dataclass(frozen=True)
class LoadProblem:
    cell: int | None
    kind: LoadProblemKind
    message: str


@dataclass(frozen=True)
class LoadReply:
    callables: Mapping[str, tuple[int, int]]  # name -> (min, max) positional args; max -1: *args
    problems: tuple[LoadProblem, ...] = ()
    output: str = ""

    def header(self) -> Header:
        return {
            "ok": True,
            "callables": {name: list(arity) for name, arity in self.callables.items()},
            "problems": [vars(problem) for problem in self.problems],
            "output": self.output,
        }

    @classmethod
    def parse(cls, header: Mapping[str, Any]) -> LoadReply:
        found = header.get("callables")
        callables = {
            capped(name, 200): (arity[0], arity[1])
            for name, arity in (found.items() if isinstance(found, dict) else [])
            if isinstance(arity, list) and len(arity) == 2 and all(type(a) is int for a in arity)
        }
        listed = header.get("problems")
        problems = tuple(
            LoadProblem(_cell(entry.get("cell")), entry["kind"], capped(entry.get("message")))
            for entry in (listed if isinstance(listed, list) else [])
            if isinstance(entry, dict) and entry.get("kind") in LOAD_PROBLEM_KINDS
        )
        kept = dict(list(callables.items())[:NAMES_CAP])
        return cls(kept, problems[:NOTES_CAP], capped(header.get("output")))


def _cell(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


@dataclass(frozen=True)
class CallError:
    """What the student's function raised (or that it returned no single numeric array)."""

    error_type: str = "Error"
    message: str = "the function failed"
    location: str = ""  # "code cell N, line L, in f"


@dataclass(frozen=True)
class CallReply:
    output: str = ""  # what the call printed
    failure: CallError | None = None
    arrays: tuple[np.ndarray, ...] = field(default=())
    autodiff: bool = False  # a differentiation transform ran during the call

    def frame(self) -> tuple[Header, list[np.ndarray]]:
        header: Header = {"ok": self.failure is None, "output": self.output}
        if self.failure is not None:
            header.update(vars(self.failure))
        if self.autodiff:
            header["autodiff"] = True
        return header, list(self.arrays)

    @classmethod
    def parse(cls, header: Mapping[str, Any], arrays: Sequence[np.ndarray]) -> CallReply:
        output = capped(header.get("output"))
        autodiff = header.get("autodiff") is True
        if header.get("ok") is True and len(arrays) == 1:
            return cls(output, None, (arrays[0],), autodiff)
        failure = CallError(
            capped(header.get("error_type"), 100) or "Error",
            capped(header.get("message")) or "the function failed",
            capped(header.get("location"), 200),
        )
        return cls(output, failure, autodiff=autodiff)


def encode_args(args: Sequence[ArgValue]) -> tuple[list[Header], list[np.ndarray]]:
    """Call arguments as JSON specs plus arrays: arrays by index, scalars by value, supplied
    functions by name."""
    specs: list[Header] = []
    arrays: list[np.ndarray] = []
    for value in args:
        if isinstance(value, np.ndarray):
            specs.append({"kind": "array", "index": len(arrays)})
            arrays.append(value)
        elif isinstance(value, str):
            specs.append({"kind": "function", "name": value})
        else:
            specs.append({"kind": "scalar", "value": float(value)})
    return specs, arrays


def decode_args(specs: Sequence[Header], arrays: Sequence[np.ndarray]) -> list[ArgValue]:
    """encode_args reversed: arrays, floats and supplied functions' names."""
    kinds: dict[str, Callable[[Header], ArgValue]] = {
        "array": lambda spec: arrays[int(spec["index"])],
        "scalar": lambda spec: float(spec["value"]),
        "function": lambda spec: str(spec["name"]),
    }
    return [kinds[str(spec["kind"])](spec) for spec in specs]


# Functions the grader hands to a student's function as an argument (e.g. "grad f" for the
# chain rule problem). They cannot cross the process boundary as code, so both sides build them
# from a name: the parent uses `value` in objectives, the worker passes `gradient` to students.
SUPPLIED_FUNCTIONS = ("logcosh", "half_square", "softplus")


def supplied_function(name: str, part: str) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp

    values: dict[str, Callable[[Any], Any]] = {
        "logcosh": lambda y: jnp.sum(jnp.logaddexp(y, -y) - jnp.log(2.0)),
        "half_square": lambda y: 0.5 * jnp.sum(y * y),
        "softplus": lambda y: jnp.sum(jnp.logaddexp(y, 0.0)),
    }
    gradients: dict[str, Callable[[Any], Any]] = {
        "logcosh": jnp.tanh,
        "half_square": lambda y: y,
        "softplus": jax.nn.sigmoid,
    }
    table = values if part == "value" else gradients
    if name not in table:
        raise KeyError(
            f"unknown supplied function {name!r}; known: {', '.join(SUPPLIED_FUNCTIONS)}"
        )
    return table[name]
