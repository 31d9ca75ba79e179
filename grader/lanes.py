"""Who may use a core while a timing phase runs on it: nobody else.

Each grading runs in a lane: one core that its grading thread, its worker and its trusted timer
are pinned to (children and threads inherit the pinning of the thread that starts them). Timing
the student and the baseline on the same core makes both see the same machine: pinned, the
baseline's time varied by about 1% across a batch; floating, by up to 4x. Gradings share a lane
only when there are more jobs than cores; then, as two workers timing at once inflated one
answer from 32 ms to 41-66 ms, a timing phase takes its lane's gate exclusively, while
correctness checks, reference computations and worker start-ups share it. A waiting timing phase
blocks new shared holders, so it waits at most for the calls already running.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


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


@dataclass
class Lane:
    cpu: int | None  # None where this system cannot pin threads
    gate: CpuGate = field(default_factory=CpuGate)
    gradings: int = 0


class Lanes:
    """One lane per core this process may use; a grading takes the least busy lane.

    With `one_gate`, all lanes share one gate: on a GPU, which every lane's timing would share,
    timing phases run one at a time (four at once raised one answer's ratio from 4.7 to 8.6).
    """

    def __init__(self, one_gate: bool = False) -> None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.all_cpus = set(cpus)
        gate = CpuGate()
        self.lanes = [Lane(cpu, gate) if one_gate else Lane(cpu) for cpu in cpus]
        self.lanes = self.lanes or [Lane(None, gate)]
        self._lock = threading.Lock()

    def spare_cpus(self, lane: Lane) -> set[int]:
        """The lane's core and those of lanes no grading holds, for a grading's helper threads."""
        with self._lock:
            cpus = {other.cpu for other in self.lanes if other.gradings == 0 or other is lane}
        return {cpu for cpu in cpus if cpu is not None}

    @contextmanager
    def take(self) -> Iterator[Lane]:
        """Pin the calling thread (and what it starts from now on) to the least busy lane."""
        with self._lock:
            lane = min(self.lanes, key=lambda candidate: candidate.gradings)
            lane.gradings += 1
        if lane.cpu is not None:
            os.sched_setaffinity(0, {lane.cpu})
        try:
            yield lane
        finally:
            if lane.cpu is not None:
                os.sched_setaffinity(0, self.all_cpus)
            with self._lock:
                lane.gradings -= 1


def pin_thread(cpus: set[int]) -> None:
    """Pin the calling thread to `cpus` (no change where empty: nothing to pin to)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
