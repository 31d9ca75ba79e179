"""The written derivations of one notebook, judged in the trusted process: each problem's final
formula is located next to the function that answers it, parsed and evaluated on the same
hidden cases as the code (never run, never shown to a worker)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import nbformat
import numpy as np

from grader.assignment import Problem
from grader.inputs import make_case
from grader.measurement import ProblemMeasurement
from grader.messages import ArgValue
from grader.notebook import Extraction
from grader.reference_side import ReferenceSide
from grader.rubric import ProblemRubric
from grader.written.check import NOT_FOUND, WrittenCase, WrittenVerdict, judge
from grader.written.find import Statement, locate, markdown_statements
from grader.written.target import rubric_definitions, target_for


@dataclass(frozen=True)
class Derivations:
    """What a notebook's derivations are judged from: its Markdown statements and where each
    problem's function is defined (an index among all cells)."""

    statements: list[Statement]
    cells: Mapping[str, int | None]


def read_derivations(
    notebook: nbformat.NotebookNode,
    extraction: Extraction,
    measurements: Mapping[str, ProblemMeasurement],
) -> Derivations:
    all_cells = notebook.get("cells", [])
    markdown = [
        (index, str(cell.get("source", "")))
        for index, cell in enumerate(all_cells)
        if cell.get("cell_type") == "markdown"
    ]
    code = [index for index, cell in enumerate(all_cells) if cell.get("cell_type") == "code"]
    defined = {name: code[chunk.cell] for chunk in extraction.chunks for name in chunk.defines}
    cells = {pid: defined.get(m.function or "") for pid, m in measurements.items()}
    try:
        statements = markdown_statements(markdown)
    except Exception:  # student text that trips a bug: no written answer found, code graded
        statements = []
    return Derivations(statements, cells)


def judge_derivations(
    derivations: Derivations,
    problems: Mapping[str, ProblemRubric],
    assignment: Mapping[str, Problem],
    reference: ReferenceSide,
    secret: bytes,
    key: str,
) -> dict[str, WrittenVerdict]:
    verdicts: dict[str, WrittenVerdict] = {}
    for pid, rubric in problems.items():
        if rubric.written.check:
            judging = _Judging(derivations, pid, rubric, assignment[pid], reference, secret, key)
            verdicts[pid] = _judged_safely(judging)
    return _each_formula_once(verdicts)


@dataclass(frozen=True)
class _Judging:
    derivations: Derivations
    pid: str
    rubric: ProblemRubric
    problem: Problem
    reference: ReferenceSide
    secret: bytes
    key: str

    def verdict(self) -> WrittenVerdict:
        cells = self.derivations.cells
        others = [cell for other, cell in cells.items() if other != self.pid and cell is not None]
        target = target_for(self.problem, self.rubric.written)
        located = locate(self.derivations.statements, target, cells.get(self.pid), others)
        given = rubric_definitions(self.rubric.written)
        located = replace(located, definitions={**given, **located.definitions})
        if not located.candidates:
            return NOT_FOUND
        cases = written_cases(self.problem, self.rubric, self.reference, self.secret, self.key)
        return judge(located, self.problem, self.rubric.written, cases)


def _judged_safely(judging: _Judging) -> WrittenVerdict:
    """The formula is the student's text: should it reach a case the evaluator gets wrong, that
    problem's formula is not checked, and the rest of the grading goes on."""
    try:
        with np.errstate(all="ignore"):  # a formula may overflow where the code does not
            return judging.verdict()
    except Exception as error:  # a bug met on student text must not cost the whole result
        why = f"matgrade could not evaluate it ({type(error).__name__}); please report this"
        return WrittenVerdict("not_checked", detail=why)


def _each_formula_once(verdicts: dict[str, WrittenVerdict]) -> dict[str, WrittenVerdict]:
    """A formula that agrees with one problem's reference is that problem's answer: where a
    problem written alike took it too (parts a and b of one cell), it disagrees there only by
    being the other part's, so that problem's answer is not found."""
    answered = {(v.cell, v.formula) for v in verdicts.values() if v.status == "agrees"}
    return {
        pid: NOT_FOUND if v.status == "disagrees" and (v.cell, v.formula) in answered else v
        for pid, v in verdicts.items()
    }


def written_cases(
    problem: Problem, rubric: ProblemRubric, reference: ReferenceSide, secret: bytes, key: str
) -> list[WrittenCase]:
    """The problem's correctness cases, drawn as the code's were, with the reference answers."""
    cases = []
    for family in rubric.cases:
        for index in range(family.count):
            case = make_case(secret, key, problem, family, index)
            expected = reference.expected(problem, case.args)
            cases.append(WrittenCase(case, expected, _mistakes(reference, problem, case.args)))
    return cases


def _mistakes(
    reference: ReferenceSide, problem: Problem, args: tuple[ArgValue, ...]
) -> Callable[[], Mapping[str, np.ndarray]]:
    def answers() -> Mapping[str, np.ndarray]:
        return reference.mistake_answers(problem, args)

    return answers
