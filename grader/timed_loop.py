"""The loop that times trusted code inside its own process: the autodiff baseline and
check-rubric's reference, on fresh inputs per call, with the garbage collector paused."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import Any, NamedTuple


def varied_input(base: Any, call: int) -> Any:
    """The input of the baseline's timed call number `call`: every call sees different values
    (one multiplication, cheap next to the call), as a student's calls do. Call 0 is `base`."""
    return (1.0 + 0.1 * ((call * 0.6180339887498949) % 1.0)) * base


class TimedCalls(NamedTuple):
    times: list[float]  # each call's seconds
    last_output: Any


def time_calls(
    function: Callable[..., Any], args: Sequence[Any], calls: int, block: Callable[[Any], Any]
) -> TimedCalls:
    """How trusted code is timed in its own process (the autodiff baseline, check-rubric's
    reference): `calls` calls, each on fresh inputs (the arrays among `args` varied by
    varied_input outside the timed span) and blocked until ready, with the garbage collector off
    as in timeit (a collection inside one call is noise, not its cost)."""
    times: list[float] = []
    result = None
    with collector_paused():
        for call in range(calls):
            call_args = block([varied_input(a, call) if hasattr(a, "shape") else a for a in args])
            start = perf_counter()
            result = block(function(*call_args))
            times.append(perf_counter() - start)
    return TimedCalls(times, result)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector off while calls are timed, as in timeit: a collection inside one
    call is noise, not its cost."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
