"""One student's grading: match each problem to a function, check it on hidden cases, time it.

Student failures of any kind become data (a status and a message in the measurement); only the
grader's own failures raise.
"""

from __future__ import annotations

import difflib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from grader.assignment import Assignment, Problem
from grader.autodiff_check import find_autodiff
from grader.compare import compare, matches
from grader.errors import StudentTimingFailed, WorkerDied, WorkerTimeout
from grader.events import Listener, TimingEvent, ignore, phase
from grader.inputs import Case, make_case, make_timing_case, timing_key
from grader.lanes import Lane, Lanes, pin_thread
from grader.measurement import CallFailure, CaseOutcome, ProblemMeasurement, TimingOutcome
from grader.messages import CallError, CallReply, CallRequest, LoadReply
from grader.models import ExtractionNote, MatchedBy
from grader.notebook import Extraction
from grader.protocol import ReplyLimit
from grader.reference_side import ReferenceSide
from grader.rubric import ProblemRubric, SpeedCurve
from grader.sandbox import tree_cpu_seconds
from grader.session import WorkerSession
from grader.speed import (
    RETIMES,
    BaselineTimes,
    StudentCalls,
    better_timing,
    measure_speed,
    sizes_text,
    with_review,
    worth_retiming,
)
from grader.trusted_timer import StudentRoundSpec, TrustedTimer

PROBE_TIMEOUT_S = 10.0

OUTPUT_KEPT = 2000

CORES = os.cpu_count() or 1

ROUNDS_PER_ATTEMPT = 1000  # round indices of one timing attempt, so attempts never share inputs
LATE_ATTEMPT = 1 + RETIMES

CaseKey = tuple[str, str, int]


@dataclass(frozen=True)
class RunContext:
    """What every student run of one grader shares: the secret, the rubric's problems, the
    reference side, the lanes and each lane's trusted timer."""

    secret: bytes
    problems: Mapping[str, ProblemRubric]
    assignment: Assignment
    reference: ReferenceSide
    lanes: Lanes
    timer: Callable[[Lane], TrustedTimer]
    listener: Listener = ignore
    notebook_time_s: float = math.inf


class StudentRun:
    """Grading state for one student: which function answers which problem, and the outcomes."""

    def __init__(
        self, context: RunContext, session: WorkerSession, submission_key: str, student: str
    ) -> None:
        self.context = context
        self.session = session
        self.submission_key = submission_key
        self.student = student  # the id events are reported under
        self.secret = context.secret
        self.problems = context.problems
        self.expected: dict[CaseKey, Future[np.ndarray]] = {}
        self.deadline = time.monotonic() + context.notebook_time_s
        self.hung: set[str] = set()  # candidates whose probe timed out or crashed
        # Per problem, what each candidate that did not pass did on the probe.
        self.probed: dict[str, dict[str, CaseOutcome]] = {pid: {} for pid in context.problems}

    def measure_all(self) -> dict[str, ProblemMeasurement]:
        """Correctness for every problem first, then timing, once nothing else uses the CPU."""
        # The reference answers are computed while the worker compiles: on a core of their own
        # where one is idle (a lone notebook), else on the lane's.
        cpus = self.context.lanes.spare_cpus(self.session.lane)
        with ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="reference", initializer=pin_thread, initargs=(cpus,)
        ) as pool:
            self.expected = self._reference_answers(pool)
            with phase(self.context.listener, "checks", self.student):
                self.session.ensure()
                measurements = self._check_all()
        timed = [
            pid
            for pid, measurement in measurements.items()
            if _timeable(measurement) and self.problems[pid].timing is not None
        ]
        for attempt in range(1 + RETIMES):
            if attempt and self.out_of_time():
                break  # one attempt each is bounded by the calls' limits; more must fit the budget
            for pid in timed:
                measurements[pid] = self._time_again(measurements[pid], attempt)
            timed = [
                pid for pid in timed if worth_retiming(measurements[pid].timing, self.problems[pid])
            ]
        for pid in timed:
            measurements[pid] = _reviewed(measurements[pid], self.problems[pid].speed)
        return measurements

    def time_late(self, measurement: ProblemMeasurement) -> ProblemMeasurement:
        """One more attempt, later than the others (at the end of the batch): a busy spell that
        lasted through the first attempts has usually passed. If this attempt fails, the earlier
        ones stand: they ran the same code on the same kind of input."""
        again = self._time_again(measurement, LATE_ATTEMPT)
        curve = self.problems[measurement.problem_id].speed
        return _reviewed(again if again.timing is not None else measurement, curve)

    def _time_again(self, measurement: ProblemMeasurement, attempt: int) -> ProblemMeasurement:
        """Time the answer (again): of all attempts, the best trustworthy one is kept, as noise
        only ever adds time. An attempt that fails (a raise, a hang) ends the timing."""
        pid, function = measurement.problem_id, measurement.function
        assert function is not None
        with phase(self.context.listener, "timing", self.student, pid):
            outcome, note = self.time(self._problem(pid), self.problems[pid], function, attempt)
        if outcome is None:
            return replace(measurement, timing=None, timing_note=note)
        self.context.listener(TimingEvent(self.student, pid, attempt, outcome))
        return replace(measurement, timing=better_timing(measurement.timing, outcome))

    def _check_all(self) -> dict[str, ProblemMeasurement]:
        callables = self.session.callables()
        matches = {pid: match_by_name(rubric, callables) for pid, rubric in self.problems.items()}
        claimed = {name for name in matches.values() if name}
        measurements: dict[str, ProblemMeasurement] = {}
        for pid, name in matches.items():
            if name is not None:
                check = partial(self.check, pid, name, "name")
                measurements[pid] = self._unless_out_of_time(pid, check)
        for pid in self.problems:
            if pid not in measurements:
                find = partial(self.find_by_behaviour, pid, callables, claimed)
                measurements[pid] = self._unless_out_of_time(pid, find)
            elif measurements[pid].forbidden:
                measurements[pid] = self._analytic_instead(measurements[pid], callables, claimed)
        # Only once every problem had its pick of the functions that pass: a wrong answer must
        # not take a function that is another problem's right one.
        for pid, measured in measurements.items():
            if measured.function is None and not measured.unreached and not self.out_of_time():
                measurements[pid] = self.closest(pid, claimed) or self._unparsed(measured)
        return {pid: measurements[pid] for pid in self.problems}

    def _analytic_instead(
        self,
        forbidden: ProblemMeasurement,
        callables: Mapping[str, tuple[int, int]],
        claimed: set[str],
    ) -> ProblemMeasurement:
        """A listed name bound to autodiff (often the baseline a statement asks students to
        time against) does not end the search: an analytic function that passes wins; the
        verdict stays forbidden when autodiff is the only answer."""
        pid = forbidden.problem_id
        other = self.find_by_behaviour(pid, callables, claimed)
        found = other.function is not None and not other.forbidden
        return other if found else forbidden

    def _unparsed(self, missing: ProblemMeasurement) -> ProblemMeasurement:
        names = self.problems[missing.problem_id].names
        return replace(missing, unparsed=self.session.extraction.why_missing(names))

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def _unless_out_of_time(
        self, pid: str, measure: Callable[[], ProblemMeasurement]
    ) -> ProblemMeasurement:
        if self.out_of_time():
            return ProblemMeasurement(pid, unreached=self.out_of_time_reason())
        return measure()

    def out_of_time_reason(self) -> str:
        budget = self.context.notebook_time_s
        return (
            f"the notebook's time budget ({budget:g} s) ran out before this problem was "
            "reached: earlier functions, or loading the notebook, took that long"
        )

    def _reference_answers(self, pool: ThreadPoolExecutor) -> dict[CaseKey, Future[np.ndarray]]:
        """Reference answers are compiled and computed on the second core while the worker
        compiles the student's code on the first."""
        answers = {}
        for problem_id, rubric in self.problems.items():
            problem = self._problem(problem_id)
            for family in rubric.cases:
                for index in range(family.count):
                    case = make_case(self.secret, self.submission_key, problem, family, index)
                    key = (problem_id, family.name, index)
                    answers[key] = pool.submit(self._reference_answer, problem, case)
        return answers

    def _reference_answer(self, problem: Problem, case: Case) -> np.ndarray:
        with self.session.lane.gate.shared():
            return self.context.reference.expected(problem, case.args)

    def _expected(self, problem: Problem, case: Case) -> np.ndarray:
        known = self.expected.get((problem.id, case.family, case.index))
        return (
            known.result()
            if known is not None
            else self.context.reference.expected(problem, case.args)
        )

    def _problem(self, problem_id: str) -> Problem:
        return self.context.assignment.problems[problem_id]

    def check(self, problem_id: str, function: str, matched_by: MatchedBy) -> ProblemMeasurement:
        problem, rubric = self._problem(problem_id), self.problems[problem_id]
        found = ProblemMeasurement(problem_id, function, matched_by)
        if not rubric.allow_autodiff:
            use = find_autodiff(self.session.extraction.chunks, function)
            if use is not None:
                return replace(found, forbidden=use.describe())
        cases: list[CaseOutcome] = []
        output, stop = "", None
        for family in rubric.cases:
            for index in range(family.count):
                case = make_case(self.secret, self.submission_key, problem, family, index)
                if stop is None and self.out_of_time():
                    stop = CallFailure("skipped", "the notebook's time budget ran out")
                if stop is not None:
                    skipped = CallFailure("skipped", _not_run(stop))
                    cases.append(CaseOutcome(case.family, None, failure=skipped))
                    continue
                outcome, printed = self.run_case(problem, rubric, function, case)
                cases.append(outcome)
                output = _append_output(output, printed)
                if outcome.failure and outcome.failure.kind in ("timeout", "crash"):
                    stop = outcome.failure
        measured = replace(found, cases=tuple(cases), output=output)
        self.session.fresh_worker_if_left_behind()
        if any(case.autodiff for case in cases):
            # What the call left behind (compiled derivatives, stashed results) must not serve
            # the next problem: it gets a fresh worker.
            self.session.drop_worker()
            if not rubric.allow_autodiff:
                return replace(measured, forbidden=ran_autodiff(function))
        return measured

    def run_case(
        self,
        problem: Problem,
        rubric: ProblemRubric,
        function: str,
        case: Case,
        timeout_s: float | None = None,
    ) -> tuple[CaseOutcome, str]:
        """The function's outcome on one case, and what it printed."""
        expected = self._expected(problem, case)
        shape = list(expected.shape)
        limits = rubric.limits
        header, arrays = CallRequest(function, case.args, limits.memory_mb).frame()
        limit = timeout_s or limits.time_limit_s
        try:
            reply_limit = ReplyLimit(arrays=1, array_bytes=reply_bytes(expected))
            reply = CallReply.parse(*self.session.request(header, arrays, limit, reply_limit))
        except WorkerTimeout:
            message = f"did not finish within {limit:g} s (an endless loop, or far too slow)"
            return CaseOutcome(case.family, shape, failure=CallFailure("timeout", message)), ""
        except WorkerDied as error:
            return CaseOutcome(case.family, shape, failure=CallFailure("crash", str(error))), ""
        if reply.failure is not None:
            failure = _exception_failure(reply.failure, limits.memory_mb)
            outcome = CaseOutcome(case.family, shape, failure=failure, autodiff=reply.autodiff)
            return outcome, reply.output
        answer = reply.arrays[0]
        comparison = compare(answer, expected, rubric.tolerance.rtol, rubric.tolerance.atol)
        if not comparison.passed and problem.mistakes:
            known = self.context.reference.mistake_answers(problem, case.args)
            found = tuple(
                f"mistake:{name}" for name, value in known.items() if matches(answer, value)
            )
            comparison = replace(comparison, diagnoses=found + comparison.diagnoses)
        outcome = CaseOutcome(
            case.family, shape, comparison, sizes=dict(case.sizes), autodiff=reply.autodiff
        )
        return outcome, reply.output

    def find_by_behaviour(
        self, problem_id: str, callables: Mapping[str, tuple[int, int]], claimed: set[str]
    ) -> ProblemMeasurement:
        problem, rubric = self._problem(problem_id), self.problems[problem_id]
        arity = len(problem.args)
        tried = []
        probe = make_case(self.secret, self.submission_key, problem, rubric.cases[0], 0)
        chunks = self.session.extraction.chunks
        for name, (low, high) in callables.items():
            if name in claimed or name in self.hung or self.out_of_time():
                continue
            if not (low <= arity and (high == -1 or arity <= high)):
                continue
            if not rubric.allow_autodiff and find_autodiff(chunks, name) is not None:
                continue  # e.g. the student's own autodiff check, next to the real answer
            tried.append(name)
            limit = min(PROBE_TIMEOUT_S, rubric.limits.time_limit_s)
            outcome, _ = self.run_case(problem, rubric, name, probe, timeout_s=limit)
            if outcome.failure and outcome.failure.kind in ("timeout", "crash"):
                self.hung.add(name)  # probing it again for another problem would cost as much
            self.session.fresh_worker_if_left_behind()
            if outcome.autodiff:
                self.session.drop_worker()
                if not rubric.allow_autodiff:
                    continue
            if outcome.passed:
                claimed.add(name)
                return self.check(problem_id, name, "behaviour")
            self.probed[problem_id][name] = outcome
        return ProblemMeasurement(problem_id, tried=tuple(tried))

    def closest(self, problem_id: str, claimed: set[str]) -> ProblemMeasurement | None:
        """When no function matched by name or behaviour, the most plausible one tried, graded
        as the student's (wrong) answer with the usual diagnoses: a function that answered the
        probe with the expected shape, the closer its name to the rubric's the better, else one
        whose name is close. None when no candidate is plausible (see `plausibility`)."""
        names = self.problems[problem_id].names
        ranked = [
            (plausibility(outcome, name, names), name)
            for name, outcome in self.probed[problem_id].items()
            if name not in claimed
        ]
        plausible = [(rank, name) for rank, name in ranked if rank >= MIN_PLAUSIBILITY]
        if not plausible:
            return None
        _, name = max(plausible)
        claimed.add(name)
        return self.check(problem_id, name, "closest")

    def time(
        self, problem: Problem, rubric: ProblemRubric, function: str, attempt: int = 0
    ) -> tuple[TimingOutcome | None, str]:
        """Check the answer at the timing size, then time it against the baseline. Each attempt
        draws inputs of its own: one measured again sees nothing it has seen before."""
        timing, limits, tolerance = rubric.timing, rubric.limits, rubric.tolerance
        assert timing is not None  # only timed problems are timed
        where = sizes_text(timing.sizes)
        first = make_timing_case(self.secret, self.submission_key, problem, timing.sizes, 0)
        warm, _ = self.run_case(problem, rubric, function, first)
        if not warm.passed:
            reason = warm.failure.message if warm.failure else warm.comparison.message  # type: ignore[union-attr]
            return None, f"Not timed: at the timing size ({where}) {reason}; no speed points."
        timer = self.context.timer(self.session.lane)

        def key(index: int) -> bytes:
            round_ = attempt * ROUNDS_PER_ATTEMPT + index
            return timing_key(self.secret, self.submission_key, problem.id, round_)

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


# A wrong answer may have another shape than the reference's (an outer product where a vector
# belongs); anything past this is refused before it is read.
REPLY_BYTES_FACTOR = 64
REPLY_BYTES_MIN = 16 * 2**20


def reply_bytes(expected: np.ndarray) -> int:
    """The most a reply to one call may carry: room for any plausible wrong shape."""
    return max(expected.nbytes * REPLY_BYTES_FACTOR, REPLY_BYTES_MIN)


# A candidate's plausibility as a problem's answer: answering the probe with the expected shape
# counts 2, then its name's likeness to the rubric's names (1 when one of 4 characters or more
# contains the other, else difflib's ratio). Answering with another shape counts nothing (an
# objective returns a scalar); a candidate needs this much to be graded as the answer.
MIN_PLAUSIBILITY = 0.6


def plausibility(outcome: CaseOutcome, name: str, names: Sequence[str]) -> float:
    comparison = outcome.comparison
    right_shape = comparison is not None and comparison.rel_error is not None
    return 2.0 * right_shape + max(name_likeness(name, listed) for listed in names)


def name_likeness(name: str, listed: str) -> float:
    name, listed = name.lower(), listed.lower()
    shorter, longer = sorted((name, listed), key=len)
    if len(shorter) >= 4 and shorter in longer:  # `analyt_dfdu` holds `dfdu`; `j` says nothing
        return 1.0
    return difflib.SequenceMatcher(None, name, listed).ratio()


def _not_run(stop: CallFailure) -> str:
    return (
        f"not run: {stop.message}"
        if stop.kind == "skipped"
        else f"not run after an earlier {stop.kind}"
    )


def ran_autodiff(function: str) -> str:
    return f"a differentiation transform (JVP or linearize) ran while {function} was called"


def _reviewed(measurement: ProblemMeasurement, curve: SpeedCurve) -> ProblemMeasurement:
    return replace(measurement, timing=with_review(measurement.timing, curve))


def _timeable(measurement: ProblemMeasurement) -> bool:
    """Timed when some case passed and none hung or crashed; the timing size is checked too."""
    cases = measurement.cases
    broken = any(c.failure and c.failure.kind in ("timeout", "crash", "skipped") for c in cases)
    return not broken and any(case.passed for case in cases)


def _exception_failure(error: CallError, memory_mb: int) -> CallFailure:
    message = error.message
    if error.error_type == "MemoryError":
        message = f"ran out of memory (limit {memory_mb} MB)"
    return CallFailure("exception", message, error.location)


def _append_output(kept: str, new: str) -> str:
    combined = kept + new
    return combined if len(combined) <= OUTPUT_KEPT else combined[:OUTPUT_KEPT] + "\n[truncated]"


def match_by_name(rubric: ProblemRubric, callables: Mapping[str, Any]) -> str | None:
    return next((name for name in rubric.names if name in callables), None)


def extraction_notes(extraction: Extraction, load_reply: LoadReply) -> list[ExtractionNote]:
    notes = list(extraction.notes)
    for problem in load_reply.problems:
        notes.append(ExtractionNote(cell=problem.cell, kind=problem.kind, message=problem.message))
    return notes
