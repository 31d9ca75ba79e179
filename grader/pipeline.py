"""Grade notebooks against one rubric: set up once, then per notebook extract, run, score.

Student failures of any kind become data (a status and a message in the result); only the
grader's own failures raise, as MatgradeError.
"""

from __future__ import annotations

import hashlib
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import __version__
from grader.assignment import Assignment, load_assignment
from grader.consistency import check_consistency
from grader.derivations import judge_derivations, read_derivations
from grader.digests import rubric_digest, submission_key
from grader.errors import InvalidNotebook, LoadFailed, RubricError
from grader.events import Listener, ignore, phase
from grader.inputs import Secret, secret_fingerprint
from grader.jax_runtime import GRADER_CACHE, cache_root, configure_jax
from grader.lanes import Lane
from grader.measurement import CallFailure, CaseOutcome, ProblemMeasurement
from grader.models import ExtractionNote, GradeResult, ProblemResult
from grader.notebook import (
    code_cells,
    extract,
    parse_notebook,
    read_submission,
    submission_sha256,
)
from grader.preparation import verify_sandbox, warm_worker_cache, worker_config_for
from grader.reference_side import ReferenceSide
from grader.rubric import LoadedRubric, load_rubric
from grader.sandbox import remove_stale_scratch
from grader.sandbox.layers import detect as detect_layers
from grader.scoring import score_problem
from grader.session import RunControl, WorkerSession
from grader.speed import at_stake
from grader.student_run import RunContext, StudentRun, extraction_notes
from grader.trusted_timer import TrustedTimer
from grader.written.check import WrittenVerdict


@dataclass(frozen=True)
class Graded:
    """A result and the measurements behind it, for timing its answers once more later."""

    result: GradeResult
    measurements: Mapping[str, ProblemMeasurement]
    written: Mapping[str, WrittenVerdict] = field(default_factory=dict)
    cells: Mapping[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class GradeOptions:
    rubric_path: Path
    secret: Secret
    device: str = "cpu"
    disabled_layers: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    protected_paths: tuple[Path, ...] = ()
    listener: Listener = ignore  # phases and timing attempts, as they end


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
        self.secret_fingerprint = secret_fingerprint(options.secret.key)
        self.sandbox = verify_sandbox(self.worker_config, options.required)
        cache = warm_worker_cache(self.rubric, options.device, confinement)
        if cache is not None:
            self.worker_config = replace(self.worker_config, cache_dir=str(cache))
        self._timers: dict[int, TrustedTimer] = {}
        self._timers_lock = threading.Lock()
        self.context = RunContext(
            secret=options.secret.key,
            problems=self.rubric.rubric.problems,
            assignment=self.assignment,
            reference=self.reference,
            lanes=self.control.lanes,
            timer=self.timer,
            listener=options.listener,
            notebook_time_s=self.rubric.rubric.notebook_time_s,
        )

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
        """Grade one notebook, its late timings included (see `retime_late`)."""
        return self.retime_late(notebook, self.measure(notebook, student)).result

    def measure(self, notebook: Path, student: str | None = None) -> Graded:
        """Grade one notebook; answers whose speed points are at stake can then be timed once
        more, later, with `retime_late`."""
        started = time.monotonic()
        student = student or notebook.stem
        # Extracted on the lane's core: parsing a huge notebook takes CPU from this grading,
        # not from another lane's timing.
        with self.control.lanes.take() as lane:
            sha256 = ""
            try:
                data = read_submission(notebook)
                sha256 = hashlib.sha256(data).hexdigest()
                parsed = parse_notebook(data)
                extraction = extract(code_cells(parsed))
            except InvalidNotebook as error:
                result = self._result(notebook, sha256, student, [], [], started, [str(error)])
                return Graded(result, {})
            session = WorkerSession(self.worker_config, extraction, self.control, lane)
            try:
                session.launch()
                if any(p.timing for p in self.rubric.rubric.problems.values()):
                    self.timer(lane)
                key = submission_key(student, sha256)
                with phase(self.options.listener, "grading", student):
                    measurements = StudentRun(self.context, session, key, student).measure_all()
                notes = extraction_notes(extraction, session.load_reply)
                errors: list[str] = []
            except LoadFailed as error:
                measurements, notes, errors = {}, extraction.notes, [str(error)]
            finally:
                session.close()
        if errors:
            results = [self._not_run(pid, errors[0]) for pid in self.rubric.rubric.problems]
            return Graded(
                self._result(notebook, sha256, student, results, notes, started, errors), {}
            )
        derivations = read_derivations(parsed, extraction, measurements)
        with phase(self.options.listener, "written answers", student):
            written = judge_derivations(
                derivations,
                self.rubric.rubric.problems,
                self.assignment.problems,
                self.reference,
                self.options.secret.key,
                submission_key(student, sha256),
            )
        results = self._scored(measurements, written, derivations.cells)
        result = self._result(notebook, sha256, student, results, notes, started, errors)
        return Graded(result, measurements, written, derivations.cells)

    def late_retimes(self, graded: Graded) -> list[str]:
        """The problems whose answers `retime_late` would time again."""
        problems = self.rubric.rubric.problems
        measured = graded.measurements
        return [pid for pid, m in measured.items() if at_stake(m.timing, problems[pid])]

    def retime_late(self, notebook: Path, graded: Graded) -> Graded:
        """Time the answers still at stake once more in a fresh worker, keep the best attempt
        and rescore. A notebook changed or no longer loading since keeps its result."""
        due = self.late_retimes(graded)
        result = graded.result
        if not due:
            return graded
        try:
            data = read_submission(notebook)
        except InvalidNotebook:
            return graded
        if hashlib.sha256(data).hexdigest() != result.notebook_sha256:
            return graded
        with self.control.lanes.take() as lane:
            extraction = extract(code_cells(parse_notebook(data)))
            session = WorkerSession(self.worker_config, extraction, self.control, lane)
            measurements = dict(graded.measurements)
            try:
                session.launch()
                self.timer(lane)
                key = submission_key(result.student, result.notebook_sha256)
                run = StudentRun(self.context, session, key, result.student)
                with phase(self.options.listener, "late timing", result.student):
                    for pid in due:
                        measurements[pid] = run.time_late(measurements[pid])
            except LoadFailed:
                return graded
            finally:
                session.close()
        problems = self._scored(measurements, graded.written, graded.cells)
        update = {"problems": problems, "total": round(sum(p.score for p in problems), 4)}
        return replace(graded, result=result.model_copy(update=update), measurements=measurements)

    def _scored(
        self,
        measurements: Mapping[str, ProblemMeasurement],
        written: Mapping[str, WrittenVerdict],
        cells: Mapping[str, int | None],
    ) -> list[ProblemResult]:
        return [
            score_problem(
                rubric,
                measurements[pid],
                self.assignment.problems[pid],
                written.get(pid),
                cells.get(pid),
            )
            for pid, rubric in self.rubric.rubric.problems.items()
        ]

    def error_result(self, notebook: Path, student: str, error: BaseException) -> GradeResult:
        """A grader failure on one submission, recorded as that submission's result."""
        sha256 = submission_sha256(notebook)
        result = self._result(notebook, sha256, student, [], [], time.monotonic(), [])
        frames = traceback.extract_tb(error.__traceback__)
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        message = f"grader error: {type(error).__name__}: {error}{where}"
        return result.model_copy(update={"status": "error", "errors": [message]})

    def _wrong_assignment(self) -> str:
        assignment = self.rubric.rubric.assignment
        return f"Nothing in this notebook matches rubric {assignment}: is it the right assignment?"

    def _not_run(self, problem_id: str, reason: str) -> ProblemResult:
        rubric = self.rubric.rubric.problems[problem_id]
        failure = CallFailure("crash", reason)
        cases = tuple(CaseOutcome(f.name, None, failure=failure) for f in rubric.cases)
        measurement = ProblemMeasurement(problem_id, function="(not loaded)", cases=cases)
        return score_problem(rubric, measurement, self.assignment.problems[problem_id])

    def _result(
        self,
        notebook: Path,
        notebook_sha256: str,
        student: str,
        problems: list[ProblemResult],
        notes: list[ExtractionNote],
        started: float,
        errors: list[str],
    ) -> GradeResult:
        invalid = bool(errors) and not problems
        nothing_matched = bool(problems) and all(p.status == "missing" for p in problems)
        return GradeResult(
            grader_version=__version__,
            submission=str(notebook),
            notebook_sha256=notebook_sha256,
            rubric_sha256=self.rubric_sha256,
            student=student,
            assignment=self.rubric.rubric.assignment,
            assignment_title=self.rubric.rubric.title,
            status="invalid" if invalid else "graded",
            total=round(sum(p.score for p in problems), 4),
            max_total=self.rubric.rubric.max_total(),
            problems=problems,
            errors=errors,
            notices=[self._wrong_assignment()] if nothing_matched else [],
            extraction=notes,
            inputs_hidden=self.options.secret.hidden,
            secret_fingerprint=self.secret_fingerprint,
            device=self.device,
            sandbox=self.sandbox,
            elapsed_s=round(time.monotonic() - started, 3),
        )
