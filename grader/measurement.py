"""What was observed about a student's answers, before any points are given: per case, per
timing attempt, per problem. Immutable values; scoring.py turns them into results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from grader.compare import Comparison
from grader.models import MatchedBy


@dataclass(frozen=True)
class CallFailure:
    """The student's function raised, timed out or took the worker down on one case."""

    kind: str  # "exception" | "timeout" | "crash" | "skipped"
    message: str
    location: str = ""


@dataclass(frozen=True)
class CaseOutcome:
    family: str
    shape: list[int] | None
    comparison: Comparison | None = None
    failure: CallFailure | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)
    autodiff: bool = False  # a differentiation transform ran during the call

    @property
    def passed(self) -> bool:
        return self.comparison is not None and self.comparison.passed


@dataclass(frozen=True)
class TimingOutcome:
    student_s: float
    baseline_s: float
    size: Mapping[str, int]
    repeats: int
    discarded: int = 0  # rounds measured in a busy spell of the machine and left out
    flagged: str | None = None  # why this timing earns no speed points
    settled: bool = True  # enough quiet rounds: False sends the answer to be measured again
    attempts: int = 1
    attempt_ratios: tuple[float, ...] = ()  # every attempt's ratio, when timed more than once
    review: str | None = None  # unsettled and inconsistent over every attempt: for the instructor
    pairs: tuple[tuple[float, float], ...] = ()  # (student, baseline) fastest call per pair

    @property
    def ratio(self) -> float:
        return self.student_s / self.baseline_s


@dataclass(frozen=True)
class ProblemMeasurement:
    """Everything observed about one problem, before any points are given."""

    problem_id: str
    function: str | None = None
    matched_by: MatchedBy | None = None
    cases: tuple[CaseOutcome, ...] = ()
    timing: TimingOutcome | None = None
    timing_note: str = ""
    output: str = ""
    tried: tuple[str, ...] = ()
    forbidden: str | None = None
    unreached: str | None = None  # why the problem was not checked: the notebook's time ran out
    unparsed: str | None = None  # a listed name sits in a cell with a syntax error
