"""A worker with one notebook's definitions loaded, and the run control that stops them all."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from grader.errors import GradingStopped, LoadFailed, WorkerDied, WorkerTimeout
from grader.lanes import Lane, Lanes
from grader.messages import LoadReply, LoadRequest, SourceChunk
from grader.notebook import Extraction
from grader.protocol import ANY_REPLY, NO_ARRAYS, ReplyLimit
from grader.sandbox import Worker, WorkerConfig, launch_worker

LOAD_TIMEOUT_S = 60.0


class RunControl:
    """What concurrent gradings share: the lanes (cores), the stop signal, the live workers."""

    def __init__(self, one_gate: bool = False) -> None:
        self.lanes = Lanes(one_gate)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._sessions: set[WorkerSession] = set()

    def track(self, session: WorkerSession, live: bool) -> None:
        with self._lock:
            (self._sessions.add if live else self._sessions.discard)(session)

    def stop(self) -> None:
        """Refuse new work and kill every running worker (their gradings then end)."""
        self.stopping.set()
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()


class WorkerSession:
    """A worker with the student's code loaded; restarted (and reloaded) after a crash."""

    def __init__(
        self, config: WorkerConfig, extraction: Extraction, control: RunControl, lane: Lane
    ) -> None:
        self.config = config
        self.lane = lane
        self.extraction = extraction
        self.control = control
        self.worker: Worker | None = None
        self.loaded = False
        self.load_reply = LoadReply({})  # of the first load: a reload runs the same code
        self._replied = False
        self._processes_loaded = 0
        self.starting: Callable[[], None] = lambda: None

    def launch(self) -> None:
        """Start a worker without waiting for it, so the caller can work meanwhile."""
        if self.control.stopping.is_set():
            raise GradingStopped()
        if self.worker is None or not self.worker.alive():
            self.control.track(self, live=True)
            # A starting worker imports JAX, a burst of CPU: no timing phase may run meanwhile.
            self.starting = self.lane.gate.hold_shared()
            self.worker = launch_worker(self.config)
            self.loaded = False

    def request(
        self,
        header: dict[str, Any],
        arrays: list[np.ndarray],
        timeout_s: float,
        limit: ReplyLimit = ANY_REPLY,
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        worker = self.ensure()
        try:
            with self.lane.gate.shared():
                return worker.request(header, arrays, timeout_s, limit)
        except (WorkerTimeout, WorkerDied):
            self.worker = None
            if self.control.stopping.is_set():
                raise GradingStopped() from None
            raise

    def ensure(self) -> Worker:
        with self.lane.gate.shared():
            self.launch()
            worker = self.worker
            assert worker is not None
            if not self.loaded:
                try:
                    worker.wait_ready()
                finally:
                    self.starting()
                self._load(worker)
        return worker

    def _load(self, worker: Worker) -> None:
        chunks = tuple(
            SourceChunk(c.cell, c.line, c.source, c.is_import) for c in self.extraction.chunks
        )
        load = LoadRequest(chunks, tuple(self.extraction.candidates)).header()
        try:
            reply, _ = worker.request(load, [], LOAD_TIMEOUT_S, NO_ARRAYS)
        except WorkerTimeout as error:
            self.worker = None
            raise LoadFailed(f"running the notebook's definitions took over {error}") from error
        except WorkerDied as error:
            self.worker = None
            raise LoadFailed(f"running the notebook's definitions: {error}") from error
        self.loaded = True
        self._processes_loaded = worker.processes()
        if not self._replied:
            self.load_reply, self._replied = LoadReply.parse(reply), True

    def callables(self) -> dict[str, tuple[int, int]]:
        """Name -> (min, max) positional arguments, for the names the grader's own extraction
        found: a name that load-time code made up is never a candidate."""
        extracted = set(self.extraction.candidates)
        return {n: a for n, a in self.load_reply.callables.items() if n in extracted}

    def fresh_worker_if_left_behind(self) -> None:
        """Processes a call left running (forked sleepers stopped at the task limit, say) would
        keep the worker at that limit, and the next problem's honest code could not start its
        threads: end them all with the worker; the next request starts a fresh one."""
        worker = self.worker
        if worker is None or not self.loaded or not worker.alive():
            return
        if worker.processes() > self._processes_loaded:
            self.drop_worker()

    def drop_worker(self) -> None:
        """Kill the worker; the next request starts and loads a fresh one."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.kill()

    def close(self) -> None:
        self.starting()
        self.drop_worker()
        self.control.track(self, live=False)
