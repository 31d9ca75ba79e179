"""What a grading reports while it runs, for progress displays and benchmarks: how long each
phase took, and each timing attempt's rounds. Listeners must be quick and thread-safe: they are
called from the grading threads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from grader.measurement import TimingOutcome


@dataclass(frozen=True)
class PhaseEvent:
    """A phase of one submission's grading ended: "grading" (all of it but the late timing),
    "checks" (every correctness case, worker start and load included), "timing" (one attempt at
    one problem) or "late timing" (the answers timed once more at the end of the batch, worker
    start included)."""

    phase: str
    submission: str
    problem: str | None
    seconds: float


@dataclass(frozen=True)
class TimingEvent:
    """One timing attempt's outcome, with its pairs of rounds (`outcome.pairs`)."""

    submission: str
    problem: str
    attempt: int
    outcome: TimingOutcome


Event = PhaseEvent | TimingEvent
Listener = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The listener of a grading nobody listens to."""


@contextmanager
def phase(
    listener: Listener, name: str, submission: str, problem: str | None = None
) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        listener(PhaseEvent(name, submission, problem, time.perf_counter() - start))
