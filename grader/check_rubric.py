"""Check a rubric against its own reference before students are graded with it.

check_rubric runs in the grader's process only (the reference is trusted code): every closed
form must agree with autodiff on every hidden case within the rubric's tolerance, known wrong
variants (a scaled answer, a float32 answer, the reference's own mistakes) must fail it, and the
closed form, run eagerly as students' code runs, must earn the full speed points.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.assignment import Problem, load_assignment
from grader.compare import compare, relative_error
from grader.derivations import written_cases
from grader.errors import RubricError
from grader.inputs import make_case, make_timing_case
from grader.jax_runtime import configure_jax
from grader.reference_side import ReferenceSide
from grader.rubric import ProblemRubric, load_rubric
from grader.scoring import speed_fraction
from grader.speed import sizes_text
from grader.written.check import WrittenCase, judge
from grader.written.find import Candidate, Located, Statement
from grader.written.target import rubric_definitions

CHECK_SECRET = b"matgrade-check-rubric"
TIMING_RUNS = 5
CALLS_PER_RUN = 20  # on each side; a run's ratio is of the fastest calls, as in a grading round
FLAKY_SPREAD = 2.5  # max/min of the repeated ratios
# Correct vectorised answers written differently from the reference (an extra product, a
# transpose, a helper) cost more operations, and at small timing sizes each operation is mostly
# dispatch: an instructor's trial saw one at 31.6x where the reference earned full points. A
# curve with less than this headroom over the reference's own ratio is reported.
SPEED_MARGIN = 2.0


@dataclass(frozen=True)
class Finding:
    problem: str
    ok: bool
    message: str
    warning: bool = False  # reported, but not a reason to exit non-zero

    def line(self) -> str:
        label = "FAIL" if not self.ok else "warn" if self.warning else "ok  "
        return f"{label} {self.problem}: {self.message}"


def check_rubric(path: Path, device: str = "cpu") -> list[Finding]:
    from grader.consistency import check_consistency

    rubric = load_rubric(path)
    if not rubric.reference_path().is_file():
        raise RubricError(path, f"reference: no such file: {rubric.reference_path()}")
    configure_jax(device)
    assignment = load_assignment(rubric.reference_path())
    check_consistency(rubric, assignment)
    reference = ReferenceSide()
    findings = [
        Finding(pid, True, "in the reference but not in the rubric: never graded", warning=True)
        for pid in assignment.problems
        if pid not in rubric.rubric.problems
    ]
    for problem_id, problem_rubric in rubric.rubric.problems.items():
        problem = assignment.problems[problem_id]
        findings += _checked_safely(reference, problem, problem_rubric)
    return findings


def _checked_safely(
    reference: ReferenceSide, problem: Problem, rubric: ProblemRubric
) -> list[Finding]:
    """The reference is the instructor's code under test: when it fails, that is a finding of
    one line naming the problem and what failed, never a traceback."""
    try:
        return _check_problem(reference, problem, rubric)
    except Exception as error:  # anything the reference's code raises
        return [Finding(problem.id, False, _reference_failure(problem, error))]


def _reference_failure(problem: Problem, error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    detail = f"{type(error).__name__}: {text}"[:300]
    arguments = ", ".join(problem.arg_names())
    return (
        f"evaluating the reference failed ({detail}); check that the objective "
        f"{_name(problem.objective)}({arguments}) returns a scalar, that argnum "
        f"{problem.argnum} indexes those arguments, and that the closed form "
        f"{_name(problem.closed_form)} takes them in that order"
    )


def _name(function: Any) -> str:
    return str(getattr(function, "__name__", repr(function)))


def _check_problem(
    reference: ReferenceSide, problem: Problem, rubric: ProblemRubric
) -> list[Finding]:
    rtol, atol = rubric.tolerance.rtol, rubric.tolerance.atol
    worst, wrong_accepted = 0.0, []
    silent = [mistake.name for mistake in problem.mistakes]  # equal to the closed form so far
    for family in rubric.cases:
        for index in range(family.count):
            case = make_case(CHECK_SECRET, "check", problem, family, index)
            closed = reference.expected(problem, case.args)
            autodiff = reference.autodiff(problem, case.args)
            error = relative_error(closed, autodiff)
            worst = max(worst, error)
            if error > rtol:
                return [
                    Finding(
                        problem.id,
                        False,
                        f"the closed form differs from autodiff by {error:.1e} on a "
                        f"'{family.name}' case ({sizes_text(case.sizes)}), above rtol {rtol:.0e}: "
                        "the tolerance is too tight for this reference (or the closed form "
                        "is wrong)",
                    )
                ]
            mistakes = reference.mistake_answers(problem, case.args)
            silent = [name for name in silent if _same(mistakes[name], closed)]
            wrong_accepted += _accepted_wrong_answers(closed, mistakes, rtol, atol)
    findings = [Finding(problem.id, True, f"closed form matches autodiff (max error {worst:.1e})")]
    findings += [_never_diagnosed(problem.id, name) for name in silent]
    if wrong_accepted:
        names = ", ".join(dict.fromkeys(wrong_accepted))
        findings.append(Finding(problem.id, False, f"wrong answers pass the tolerance: {names}"))
    else:
        findings.append(
            Finding(problem.id, True, "wrong variants fail (scaled, float32, known mistakes)")
        )
    findings += _check_written(reference, problem, rubric)
    if rubric.timing is not None:
        findings.append(_check_speed(reference, problem, rubric))
    return findings


def _check_written(
    reference: ReferenceSide, problem: Problem, rubric: ProblemRubric
) -> list[Finding]:
    """Each reference formula of the rubric's `written` section, read as a student's would
    be, must agree with the closed form: this checks the symbol bindings and conventions."""
    written = rubric.written
    if not written.check:
        return []
    if not written.reference:
        if written.points > 0:
            return [Finding(problem.id, True, "written.points without a written.reference "
                            "formula to check the symbol bindings with", warning=True)]  # fmt: skip
        return []
    cases = written_cases(problem, rubric, reference, CHECK_SECRET, "check")
    return [_written_finding(problem, rubric, formula, cases) for formula in written.reference]


def _written_finding(
    problem: Problem, rubric: ProblemRubric, formula: str, cases: list[WrittenCase]
) -> Finding:
    candidate = Candidate(Statement(0, (formula,), boxed=False), formula, claimed=True)
    located = Located((candidate,), rubric_definitions(rubric.written))
    verdict = judge(located, problem, rubric.written, cases)
    shown = verdict.formula or formula
    if verdict.status == "agrees":
        error = verdict.rel_error or 0.0
        return Finding(problem.id, True, f"written formula {shown} agrees (max error {error:.1e})")
    why = verdict.detail or f"it differs by {verdict.rel_error:.1e}"
    return Finding(
        problem.id,
        False,
        f"written formula {shown} does not evaluate to the closed form: {why}; check "
        "written.symbols, written.rows and the formula",
    )


def _never_diagnosed(problem_id: str, mistake: str) -> Finding:
    return Finding(
        problem_id,
        True,
        f"mistake {mistake!r} equals the closed form on every hidden case: it can never be "
        "diagnosed (the cases may be too special, e.g. symmetric or square)",
        warning=True,
    )


def _accepted_wrong_answers(
    closed: np.ndarray, mistakes: dict[str, np.ndarray], rtol: float, atol: float
) -> list[str]:
    """The wrong variants (a scaled and a float32 answer, the known mistakes) that pass."""
    with np.errstate(over="ignore"):  # entries beyond float32's range become inf, and fail
        float32 = closed.astype(np.float32)
    variants: dict[str, np.ndarray] = {"closed form x 1.001": closed * 1.001, "float32": float32}
    variants.update(mistakes)
    return [
        name
        for name, answer in variants.items()
        if not np.allclose(answer, closed, rtol=0, atol=0)
        and compare(answer, closed, rtol, atol).passed
    ]


def _check_speed(reference: ReferenceSide, problem: Problem, rubric: ProblemRubric) -> Finding:
    """The closed form run op by op, as an un-jitted student answer runs, against the baseline."""
    assert rubric.timing is not None  # only timed problems are checked for speed
    case = make_timing_case(CHECK_SECRET, "check", problem, rubric.timing.sizes, 0)
    reference.evaluate_eagerly(problem, case.args)
    reference.time_baseline(problem, case.args, 2)
    ratios = _speed_ratios(reference, problem, case.args)
    ratio = statistics.median(ratios)
    earned = speed_fraction(ratio, rubric.speed)
    if earned < 1:  # a noisy moment must not fail a rubric: the verdict needs two bad runs
        ratios = min(ratios, _speed_ratios(reference, problem, case.args), key=statistics.median)
        ratio = statistics.median(ratios)
        earned = speed_fraction(ratio, rubric.speed)
    spread = max(ratios) / min(ratios)
    text = (
        f"the reference's own speed ratio is {ratio:.3g}x at {sizes_text(rubric.timing.sizes)} "
        f"({min(ratios):.3g}-{max(ratios):.3g} over {TIMING_RUNS} runs), earning "
        f"{earned:.0%} of the speed points"
    )
    if rubric.points.speed == 0:
        return Finding(problem.id, True, text.split(", earning")[0] + " (reported, not scored)")
    if earned < 1:
        return Finding(problem.id, False, text + f": raise speed.full_at above {ratio:.3g}")
    if spread > FLAKY_SPREAD:
        flaky = ": flaky (a larger timing size steadies it)"
        return Finding(problem.id, True, text + flaky, warning=True)
    if ratio * SPEED_MARGIN > rubric.speed.full_at:
        tight = (
            f": within {SPEED_MARGIN:g}x of full_at {rubric.speed.full_at:g}, so a correct "
            "vectorised answer written with a few more operations may miss full points; raise "
            f"speed.full_at to {ratio * SPEED_MARGIN:.3g} or time at a larger size"
        )
        return Finding(problem.id, True, text + tight, warning=True)
    return Finding(problem.id, True, text)


def _speed_ratios(reference: ReferenceSide, problem: Problem, args: Any) -> list[float]:
    """Eager closed form over jitted baseline, the fastest call of each of TIMING_RUNS runs,
    as the grader measures students."""
    return [
        min(reference.time_eagerly(problem, args, CALLS_PER_RUN))
        / min(reference.time_baseline(problem, args, CALLS_PER_RUN).times)
        for _ in range(TIMING_RUNS)
    ]


def _same(answer: np.ndarray, closed: np.ndarray) -> bool:
    return answer.shape == closed.shape and bool(np.allclose(answer, closed, rtol=1e-12))
