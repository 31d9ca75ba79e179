"""Grade one notebook: extract, run in a worker on hidden inputs, compare, time, score.

Student failures of any kind become data (a status and a message in the result); only the
grader's own failures raise, as MatgradeError.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__, protocol
from grader.assignment import Assignment, Problem, load_assignment
from grader.autodiff_check import find_autodiff
from grader.baseline import (
    DEVICE_PLATFORMS,
    GRADER_CACHE,
    WORKER_CACHE,
    ReferenceSide,
    cache_root,
    configure_jax,
)
from grader.compare import compare, matches
from grader.errors import RubricError, SandboxError, UsageError
from grader.gate import Lane, Lanes, pin_thread
from grader.inputs import ArgValue, Case, Secret, make_case, make_timing_case, timing_key
from grader.models import ExtractionNote, GradeResult, MatchedBy, ProblemResult, SandboxReport
from grader.notebook import Extraction, InvalidNotebook, code_cells, extract, read_notebook
from grader.rubric import LoadedRubric, ProblemRubric, load_rubric
from grader.sandbox import (
    Worker,
    WorkerConfig,
    WorkerDied,
    WorkerTimeout,
    launch_worker,
    remove_stale_scratch,
    tree_cpu_seconds,
)
from grader.sandbox.canary import PROTECTIONS, run_canary
from grader.sandbox.layers import LAYERS, Confinement
from grader.sandbox.layers import detect as detect_layers
from grader.scoring import (
    CallFailure,
    CaseOutcome,
    ProblemMeasurement,
    TimingOutcome,
    score_problem,
)
from grader.timer import StudentRoundSpec, StudentTimingFailed, TrustedTimer
from grader.timing import (
    RETIMES,
    BaselineTimes,
    StudentCalls,
    better_timing,
    measure_speed,
    sizes_text,
    with_review,
    worth_retiming,
)

LOAD_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 10.0
OUTPUT_KEPT = 2000
CORES = os.cpu_count() or 1
ROUNDS_PER_ATTEMPT = 1000  # round indices of one timing attempt, so attempts never share inputs

CaseKey = tuple[str, str, int]


@dataclass(frozen=True)
class GradeOptions:
    rubric_path: Path
    secret: Secret
    device: str = "cpu"
    disabled_layers: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    protected_paths: tuple[Path, ...] = ()


class LoadFailed(Exception):
    """Loading the student's definitions hung or killed the worker."""


class GradingStopped(Exception):
    """The run is being stopped (Ctrl-C, SIGTERM): this student's grade is not to be kept."""


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
        self.load_reply: dict[str, Any] = {}
        self.starting: Callable[[], None] = lambda: None

    def launch(self) -> None:
        """Start a worker without waiting for it, so the caller can work meanwhile."""
        if self.control.stopping.is_set():
            raise GradingStopped()
        if self.worker is None or not self.worker.alive():
            self.control.track(self, live=True)
            # A starting worker imports JAX for ~0.6 s of CPU: no timing phase may run meanwhile.
            self.starting = self.lane.gate.hold_shared()
            self.worker = launch_worker(self.config)
            self.loaded = False

    def request(
        self, header: dict[str, Any], arrays: list[np.ndarray], timeout_s: float
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        worker = self.ensure()
        try:
            with self.lane.gate.shared():
                return worker.request(header, arrays, timeout_s)
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
        chunks = [
            {"cell": c.cell, "line": c.line, "source": c.source, "is_import": c.is_import}
            for c in self.extraction.chunks
        ]
        load = {"op": "load", "chunks": chunks, "candidates": self.extraction.candidates}
        try:
            reply, _ = worker.request(load, [], LOAD_TIMEOUT_S)
        except WorkerTimeout as error:
            self.worker = None
            raise LoadFailed(f"running the notebook's definitions took over {error}") from error
        except WorkerDied as error:
            self.worker = None
            raise LoadFailed(f"running the notebook's definitions: {error}") from error
        self.loaded = True
        self.load_reply = self.load_reply or reply

    def callables(self) -> dict[str, list[int]]:
        """Name -> [min, max] positional arguments; anything malformed (a forged reply) dropped."""
        found = self.load_reply.get("callables", {})
        if not isinstance(found, dict):
            return {}
        return {
            str(name): [int(arity[0]), int(arity[1])]
            for name, arity in found.items()
            if isinstance(arity, list) and len(arity) == 2 and all(type(a) is int for a in arity)
        }

    def drop_worker(self) -> None:
        """Kill the worker; the next request starts and loads a fresh one."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.kill()

    def close(self) -> None:
        self.starting()
        self.drop_worker()
        self.control.track(self, live=False)


class Grader:
    """Grades notebooks against one rubric; reuse it across notebooks to reuse compiled code."""

    def __init__(self, options: GradeOptions) -> None:
        self.options = options
        self.rubric: LoadedRubric = load_rubric(options.rubric_path)
        self.device = configure_jax(options.device)
        if not self.rubric.reference_path().is_file():
            missing = self.rubric.reference_path()
            raise RubricError(self.rubric.path, f"reference: no such file: {missing}")
        self.assignment: Assignment = load_assignment(self.rubric.reference_path())
        check_consistency(self.rubric, self.assignment)
        self.reference = ReferenceSide()
        hidden = (self.rubric.path, self.rubric.reference_path().parent, *options.protected_paths)
        root = cache_root()
        if root is not None:
            hidden += (root / GRADER_CACHE,)  # compiled reference closed forms
        confinement = detect_layers(options.disabled_layers)
        remove_stale_scratch()
        self.worker_config = worker_config_for(self.rubric, options.device, confinement, hidden)
        self.control = RunControl(one_gate=options.device != "cpu")
        self.rubric_sha256 = rubric_digest(self.rubric)
        self.sandbox = verify_sandbox(self.worker_config, options.required)
        cache = warm_worker_cache(self.rubric, options.device, confinement)
        if cache is not None:
            self.worker_config = replace(self.worker_config, cache_dir=str(cache))
        self._timers: dict[int, TrustedTimer] = {}
        self._timers_lock = threading.Lock()

    def timer(self, lane: Lane) -> TrustedTimer:
        """The lane's trusted timer, started by the lane's first grading (it imports JAX while
        the first worker does) on the lane's core."""
        with self._timers_lock:
            running = self._timers.get(id(lane))
            if running is None or running.process.poll() is not None:  # a dead one is replaced
                reference = self.rubric.reference_path()
                self._timers[id(lane)] = TrustedTimer(reference, self.options.device, lane.cpu)
            return self._timers[id(lane)]

    def close(self) -> None:
        """Stops the trusted timers; workers end with their gradings."""
        with self._timers_lock:
            for timer in self._timers.values():
                timer.close()
            self._timers.clear()

    def grade(self, notebook: Path, student: str | None = None) -> GradeResult:
        started = time.monotonic()
        student = student or notebook.stem
        # Extracted on the lane's core: parsing a huge notebook takes CPU from this grading,
        # not from another lane's timing.
        with self.control.lanes.take() as lane:
            try:
                extraction = extract(code_cells(read_notebook(notebook)))
            except InvalidNotebook as error:
                return self._result(notebook, student, [], [], started, errors=[str(error)])
            session = WorkerSession(self.worker_config, extraction, self.control, lane)
            try:
                session.launch()
                if any(p.timing for p in self.rubric.rubric.problems.values()):
                    self.timer(lane)
                key = submission_key(student, file_sha256(notebook))
                results = StudentRun(self, session, key).grade_all()
                notes = extraction_notes(extraction, session.load_reply)
                errors: list[str] = []
            except LoadFailed as error:
                results, notes, errors = [], extraction.notes, [str(error)]
            finally:
                session.close()
        if errors:
            results = [self._not_run(pid, errors[0]) for pid in self.rubric.rubric.problems]
        return self._result(notebook, student, results, notes, started, errors=errors)

    def error_result(self, notebook: Path, student: str, error: BaseException) -> GradeResult:
        """A grader failure on one submission, recorded as that submission's result."""
        result = self._result(notebook, student, [], [], time.monotonic(), errors=[])
        frames = traceback.extract_tb(error.__traceback__)
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        message = f"grader error: {type(error).__name__}: {error}{where}"
        return result.model_copy(update={"status": "error", "errors": [message]})

    def _not_run(self, problem_id: str, reason: str) -> ProblemResult:
        rubric = self.rubric.rubric.problems[problem_id]
        measurement = ProblemMeasurement(problem_id, function="(not loaded)")
        measurement.cases = [
            CaseOutcome(f.name, None, failure=CallFailure("crash", reason)) for f in rubric.cases
        ]
        return score_problem(rubric, measurement, self.assignment.problems[problem_id])

    def _result(
        self,
        notebook: Path,
        student: str,
        problems: list[ProblemResult],
        notes: list[ExtractionNote],
        started: float,
        errors: list[str],
    ) -> GradeResult:
        invalid = bool(errors) and not problems
        return GradeResult(
            grader_version=__version__,
            submission=str(notebook),
            notebook_sha256=file_sha256(notebook),
            rubric_sha256=self.rubric_sha256,
            student=student,
            assignment=self.rubric.rubric.assignment,
            assignment_title=self.rubric.rubric.title,
            status="invalid" if invalid else "graded",
            total=round(sum(p.score for p in problems), 4),
            max_total=self.rubric.rubric.max_total(),
            problems=problems,
            errors=errors,
            extraction=notes,
            inputs_hidden=self.options.secret.hidden,
            device=self.device,
            sandbox=self.sandbox,
            elapsed_s=round(time.monotonic() - started, 3),
        )


class StudentRun:
    """Grading state for one student: which function answers which problem, and the outcomes."""

    def __init__(self, grader: Grader, session: WorkerSession, student: str) -> None:
        self.grader = grader
        self.session = session
        self.student = student
        self.secret = grader.options.secret.key
        self.problems = grader.rubric.rubric.problems
        self.expected: dict[CaseKey, Future[np.ndarray]] = {}

    def grade_all(self) -> list[ProblemResult]:
        """Correctness for every problem first, then timing, once nothing else uses the CPU."""
        # The reference answers are computed while the worker compiles: on a core of their own
        # where one is idle (a lone notebook), else on the lane's.
        cpus = self.grader.control.lanes.spare_cpus(self.session.lane)
        with ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="reference", initializer=pin_thread, initargs=(cpus,)
        ) as pool:
            self.expected = self._reference_answers(pool)
            self.session.ensure()
            measurements = self._check_all()
        timed = [
            pid
            for pid, measurement in measurements.items()
            if _timeable(measurement) and self.problems[pid].timing is not None
        ]
        for attempt in range(1 + RETIMES):
            for pid in timed:
                self._time_again(measurements[pid], attempt)
            timed = [
                pid for pid in timed if worth_retiming(measurements[pid].timing, self.problems[pid])
            ]
        for pid in timed:
            measurements[pid].timing = with_review(measurements[pid].timing)
        return [
            score_problem(rubric, measurements[pid], self._problem(pid))
            for pid, rubric in self.problems.items()
        ]

    def _time_again(self, measurement: ProblemMeasurement, attempt: int) -> None:
        """Time the answer (again): of all attempts, the best trustworthy one is kept, as noise
        only ever adds time. An attempt that fails (a raise, a hang) ends the timing."""
        pid, function = measurement.problem_id, measurement.function
        assert function is not None
        outcome, note = self.time(self._problem(pid), self.problems[pid], function, attempt)
        if outcome is None:
            measurement.timing, measurement.timing_note = None, note
        else:
            measurement.timing = better_timing(measurement.timing, outcome)

    def _check_all(self) -> dict[str, ProblemMeasurement]:
        callables = self.session.callables()
        matches = {pid: match_by_name(rubric, callables) for pid, rubric in self.problems.items()}
        claimed = {name for name in matches.values() if name}
        measurements = {
            pid: self.check(pid, name, "name") for pid, name in matches.items() if name is not None
        }
        for pid in self.problems:
            if pid not in measurements:
                measurements[pid] = self.find_by_behaviour(pid, callables, claimed)
        return measurements

    def _reference_answers(self, pool: ThreadPoolExecutor) -> dict[CaseKey, Future[np.ndarray]]:
        """Reference answers are compiled and computed on the second core while the worker
        compiles the student's code on the first."""
        answers = {}
        for problem_id, rubric in self.problems.items():
            problem = self._problem(problem_id)
            for family in rubric.cases:
                for index in range(family.count):
                    case = make_case(self.secret, self.student, problem, family, index)
                    key = (problem_id, family.name, index)
                    answers[key] = pool.submit(self._reference_answer, problem, case)
        return answers

    def _reference_answer(self, problem: Problem, case: Case) -> np.ndarray:
        with self.session.lane.gate.shared():
            return self.grader.reference.expected(problem, case.args)

    def _expected(self, problem: Problem, case: Case) -> np.ndarray:
        known = self.expected.get((problem.id, case.family, case.index))
        return (
            known.result()
            if known is not None
            else self.grader.reference.expected(problem, case.args)
        )

    def _problem(self, problem_id: str) -> Problem:
        return self.grader.assignment.problems[problem_id]

    def check(self, problem_id: str, function: str, matched_by: MatchedBy) -> ProblemMeasurement:
        problem, rubric = self._problem(problem_id), self.problems[problem_id]
        measurement = ProblemMeasurement(problem_id, function, matched_by)
        if not rubric.allow_autodiff:
            use = find_autodiff(self.session.extraction.chunks, function)
            if use is not None:
                measurement.forbidden = use.describe()
                return measurement
        stop: CallFailure | None = None
        for family in rubric.cases:
            for index in range(family.count):
                case = make_case(self.secret, self.student, problem, family, index)
                if stop is not None:
                    skipped = CallFailure("skipped", f"not run after an earlier {stop.kind}")
                    measurement.cases.append(CaseOutcome(case.family, None, failure=skipped))
                    continue
                outcome = self.run_case(problem, rubric, function, case, measurement)
                measurement.cases.append(outcome)
                if outcome.failure and outcome.failure.kind in ("timeout", "crash"):
                    stop = outcome.failure
        return measurement

    def run_case(
        self,
        problem: Problem,
        rubric: ProblemRubric,
        function: str,
        case: Case,
        measurement: ProblemMeasurement | None = None,
        timeout_s: float | None = None,
    ) -> CaseOutcome:
        expected = self._expected(problem, case)
        shape = list(expected.shape)
        limits = rubric.limits
        assert limits is not None and rubric.tolerance is not None
        header, arrays = call_message(function, case.args, limits.memory_mb)
        try:
            reply, out = self.session.request(header, arrays, timeout_s or limits.time_limit_s)
        except WorkerTimeout:
            limit = timeout_s or limits.time_limit_s
            message = f"did not finish within {limit:g} s (an endless loop, or far too slow)"
            return CaseOutcome(case.family, shape, failure=CallFailure("timeout", message))
        except WorkerDied as error:
            return CaseOutcome(case.family, shape, failure=CallFailure("crash", str(error)))
        if measurement is not None:
            measurement.output = _append_output(measurement.output, str(reply.get("output", "")))
        if not reply.get("ok") or len(out) != 1:
            return CaseOutcome(case.family, shape, failure=_exception_failure(reply, limits))
        tolerance = rubric.tolerance
        comparison = compare(out[0], expected, tolerance.rtol, tolerance.atol)
        if not comparison.passed and problem.mistakes:
            known = self.grader.reference.mistake_answers(problem, case.args)
            found = tuple(
                f"mistake:{name}" for name, value in known.items() if matches(out[0], value)
            )
            comparison = replace(comparison, diagnoses=found + comparison.diagnoses)
        return CaseOutcome(case.family, shape, comparison=comparison, sizes=dict(case.sizes))

    def find_by_behaviour(
        self, problem_id: str, callables: Mapping[str, list[int]], claimed: set[str]
    ) -> ProblemMeasurement:
        problem, rubric = self._problem(problem_id), self.problems[problem_id]
        arity = len(problem.args)
        tried = []
        probe = make_case(self.secret, self.student, problem, rubric.cases[0], 0)
        chunks = self.session.extraction.chunks
        for name, (low, high) in callables.items():
            if name in claimed or not (low <= arity and (high == -1 or arity <= high)):
                continue
            if not rubric.allow_autodiff and find_autodiff(chunks, name) is not None:
                continue  # e.g. the student's own autodiff check, next to the real answer
            tried.append(name)
            limit = min(PROBE_TIMEOUT_S, rubric.limits.time_limit_s if rubric.limits else 10)
            outcome = self.run_case(problem, rubric, name, probe, timeout_s=limit)
            if outcome.passed:
                claimed.add(name)
                return self.check(problem_id, name, "behaviour")
        return ProblemMeasurement(problem_id, tried=tried)

    def time(
        self, problem: Problem, rubric: ProblemRubric, function: str, attempt: int = 0
    ) -> tuple[TimingOutcome | None, str]:
        """Check the answer at the timing size, then time it against the baseline. Each attempt
        draws inputs of its own: one measured again sees nothing it has seen before."""
        timing, limits, tolerance = rubric.timing, rubric.limits, rubric.tolerance
        assert timing is not None and limits is not None and tolerance is not None
        where = sizes_text(timing.sizes)
        first = make_timing_case(self.secret, self.student, problem, timing.sizes, 0)
        warm = self.run_case(problem, rubric, function, first)
        if not warm.passed:
            reason = warm.failure.message if warm.failure else warm.comparison.message  # type: ignore[union-attr]
            return None, f"Not timed: at the timing size ({where}) {reason}; no speed points."
        timer = self.grader.timer(self.session.lane)

        def key(index: int) -> bytes:
            round_ = attempt * ROUNDS_PER_ATTEMPT + index
            return timing_key(self.secret, self.student, problem.id, round_)

        def student(index: int, calls: int) -> StudentCalls:
            spec = StudentRoundSpec(
                problem.id, function, timing.sizes, key(index), calls,
                limits.time_limit_s, limits.memory_mb, tolerance.rtol, tolerance.atol,
            )  # fmt: skip
            worker = self.session.ensure()
            return timer.student(spec, (worker.request_fd, worker.reply_fd))

        def baseline(index: int, calls: int) -> BaselineTimes:
            return timer.baseline(problem.id, timing.sizes, key(index), calls)

        try:
            with self.session.lane.gate.exclusive():
                outcome = measure_speed(student, baseline, timing, CORES, self._worker_cpu_seconds)
        except StudentTimingFailed as error:
            if error.kind != "exception":  # the worker is mid-call or broken: start afresh
                self.session.drop_worker()
            return None, f"Not timed at {where}: {error}; no speed points."
        except (WorkerTimeout, WorkerDied) as error:
            return None, f"Not timed at {where}: {error}; no speed points."
        return outcome, ""

    def _worker_cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.session.ensure().process.pid)


def _timeable(measurement: ProblemMeasurement) -> bool:
    """Timed when some case passed and none hung or crashed; the timing size is checked too."""
    cases = measurement.cases
    broken = any(c.failure and c.failure.kind in ("timeout", "crash", "skipped") for c in cases)
    return not broken and any(case.passed for case in cases)


def call_message(
    function: str, args: tuple[ArgValue, ...], memory_mb: int
) -> tuple[dict[str, Any], list[np.ndarray]]:
    specs, arrays = protocol.encode_args(args)
    header = {"op": "call", "function": function, "args": specs, "memory_mb": memory_mb or 4096}
    return header, arrays


def _exception_failure(reply: Mapping[str, Any], limits: Any) -> CallFailure:
    kind = str(reply.get("error_type", "Error"))
    message = str(reply.get("message", "the function failed"))
    if kind == "MemoryError":
        message = f"ran out of memory (limit {limits.memory_mb} MB)"
    return CallFailure("exception", message, str(reply.get("location", "")))


def _append_output(kept: str, new: str) -> str:
    combined = kept + new
    return combined if len(combined) <= OUTPUT_KEPT else combined[:OUTPUT_KEPT] + "\n[truncated]"


def match_by_name(rubric: ProblemRubric, callables: Mapping[str, Any]) -> str | None:
    return next((name for name in rubric.names if name in callables), None)


def extraction_notes(extraction: Extraction, load_reply: Mapping[str, Any]) -> list[ExtractionNote]:
    notes = list(extraction.notes)
    for problem in load_reply.get("problems", []):
        notes.append(
            ExtractionNote(
                cell=problem.get("cell"), kind=problem["kind"], message=problem["message"]
            )
        )
    return notes


def worker_config_for(
    rubric: LoadedRubric, device: str, confinement: Confinement, hidden: tuple[Path, ...]
) -> WorkerConfig:
    limits = [p.limits for p in rubric.rubric.problems.values() if p.limits is not None]
    memory = max(limit.memory_mb for limit in limits)
    cpu = int(sum(limit.time_limit_s for limit in limits) * 4 + 120)
    return WorkerConfig(
        platform=DEVICE_PLATFORMS[device],
        memory_mb=memory,
        cpu_s=cpu,
        confinement=confinement,
        hidden=tuple(str(path.resolve()) for path in hidden),
    )


WARMUP_TIMEOUT_S = 300.0


def warm_worker_cache(rubric: LoadedRubric, device: str, confinement: Confinement) -> Path | None:
    """The workers' read-only compilation cache, filled first by a trusted process if needed.

    Only where Landlock makes the cache read-only for workers: a cache one student can write to
    would be loaded by the next. Filled once per rubric, reference and JAX version.
    """
    root = cache_root()
    if root is None or not confinement.active("landlock"):
        return None
    cache = root / WORKER_CACHE
    marker = cache / f"warm-{_warmup_key(rubric)}"
    if marker.exists():
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    config = {"rubric": str(rubric.path.resolve()), "cache": str(cache), "device": device}
    try:
        subprocess.run(
            [sys.executable, "-I", "-m", "grader.warmup", json.dumps(config)],
            capture_output=True,
            timeout=WARMUP_TIMEOUT_S,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None  # workers then compile everything themselves: slower, still correct
    marker.touch()
    return cache


def _warmup_key(rubric: LoadedRubric) -> str:
    import jax

    # Compiled code is keyed by XLA's flags too: the workers' flags are part of the key.
    versions = f"{jax.__version__} {__version__} {protocol.CPU_XLA_FLAGS}".encode()
    return hashlib.sha256(rubric_digest(rubric).encode() + versions).hexdigest()[:16]


def rubric_digest(rubric: LoadedRubric) -> str:
    """Of the rubric and its reference module: a change to either regrades everything."""
    digest = hashlib.sha256(rubric.path.read_bytes())
    digest.update(rubric.reference_path().read_bytes())
    return digest.hexdigest()


def submission_key(student: str, notebook_sha256: str) -> str:
    """What hidden inputs derive from besides the secret: the student and this exact notebook,
    so answers a student printed once and pasted into a resubmission meet new inputs."""
    return f"{student}\x1f{notebook_sha256}"


def file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def verify_sandbox(config: WorkerConfig, required: frozenset[str]) -> SandboxReport:
    """Run the canary under the students' configuration; refuse if a required protection fails."""
    unknown = required - set(PROTECTIONS) - set(LAYERS)
    if unknown:
        known = ", ".join([*PROTECTIONS, *LAYERS])
        raise UsageError(f"--require: unknown {', '.join(sorted(unknown))} (known: {known})")
    canary = run_canary(config)
    report = SandboxReport(level=canary.level, layers=canary.layers, protections=canary.protections)
    missing = sorted(
        name
        for name in required
        if not report.protections.get(name, False)
        and not report.layers.get(name, "").startswith("active")
    )
    if missing:
        raise SandboxError(
            f"refusing to grade: required protection missing: {', '.join(missing)} "
            f"(layers: {_layer_summary(report)})"
        )
    return report


def _layer_summary(report: SandboxReport) -> str:
    return "; ".join(f"{name} {state}" for name, state in report.layers.items())


def check_consistency(rubric: LoadedRubric, assignment: Assignment) -> None:
    """Every rubric problem exists in the reference and every size symbol is given."""
    for problem_id, problem_rubric in rubric.rubric.problems.items():
        if problem_id not in assignment.problems:
            known = ", ".join(assignment.problems)
            raise RubricError(rubric.path, f"problems.{problem_id}: not in the reference ({known})")
        needed = assignment.problems[problem_id].symbols()
        if problem_rubric.points.speed > 0 and problem_rubric.timing is None:
            raise RubricError(
                rubric.path, f"problems.{problem_id}: points.speed > 0 needs a timing section"
            )
        for family in problem_rubric.cases:
            _check_sizes(rubric, f"problems.{problem_id}.cases.{family.name}", family.sizes, needed)
        if problem_rubric.timing is not None:
            where = f"problems.{problem_id}.timing.sizes"
            _check_sizes(rubric, where, [problem_rubric.timing.sizes], needed)


def _check_sizes(
    rubric: LoadedRubric, where: str, sizes: list[dict[str, int]], needed: set[str]
) -> None:
    for entry in sizes:
        missing, unknown = needed - set(entry), set(entry) - needed
        if missing:
            raise RubricError(rubric.path, f"{where}: sizes lack {', '.join(sorted(missing))}")
        if unknown:
            expected = ", ".join(sorted(needed))
            raise RubricError(
                rubric.path, f"{where}: unknown size {', '.join(sorted(unknown))} (uses {expected})"
            )
        if any(value < 1 for value in entry.values()):
            raise RubricError(rubric.path, f"{where}: sizes must be positive, got {entry}")
