"""Who may use the CPU while a timing phase runs: nobody else.

Two workers timing at once inflated one answer from 32 ms to 41-66 ms on two cores, so timing
phases take the gate exclusively, while correctness checks, reference computations and worker
start-ups share it. A waiting timing phase blocks new shared holders, so it waits at most for
the calls already running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class CpuGate:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._sharing = 0
        self._exclusive = False
        self._waiting = 0
        self._owner: int | None = None
        self._held = threading.local()  # shared holds of this thread: re-entry never waits

    @contextmanager
    def shared(self) -> Iterator[None]:
        if self._owner == threading.get_ident():
            yield  # the timing phase's own requests
            return
        release = self.hold_shared()
        try:
            yield
        finally:
            release()

    def hold_shared(self) -> Callable[[], None]:
        """A shared hold that outlives a block (a worker starting up); call the result once."""
        holder = threading.get_ident()
        with self._condition:
            reentry = getattr(self._held, "count", 0) > 0
            while not reentry and (self._exclusive or self._waiting):
                self._condition.wait()
            self._sharing += 1
            self._held.count = getattr(self._held, "count", 0) + 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._condition:
                self._sharing -= 1
                if threading.get_ident() == holder:
                    self._held.count -= 1
                self._condition.notify_all()

        return release

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._waiting += 1
            while self._exclusive or self._sharing:
                self._condition.wait()
            self._waiting -= 1
            self._exclusive = True
            self._owner = threading.get_ident()
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._owner = None
                self._condition.notify_all()
