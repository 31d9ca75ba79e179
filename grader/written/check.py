"""Judge a problem's written answer on the hidden cases: evaluate the formula the finder
located, compare it with the reference answer, and name what is wrong (a transposed symbol, a
term off by a factor, a known mistake) the way code is diagnosed.

Whatever cannot be read or bound is "not checked", with the reason: never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from grader.assignment import Problem
from grader.compare import NAMED_FACTORS, diagnose, fitted_factor, matches, relative_error
from grader.inputs import Case
from grader.models import WrittenStatus
from grader.rubric import WrittenRubric
from grader.written import nodes as n
from grader.written.evaluate import (
    Budget,
    Definition,
    EvaluationError,
    Eye,
    Scope,
    Value,
    add,
    evaluate,
)
from grader.written.find import Candidate, Located
from grader.written.latex import Formula, FormulaError, parse_formula
from grader.written.target import scope_for

MAX_SHOWN_FORMULA = 300
MAX_MUTATIONS = 40


@dataclass(frozen=True)
class WrittenCase:
    """A hidden case with the reference's answer; its known mistakes' answers are computed
    only for a formula that disagrees."""

    case: Case
    expected: np.ndarray
    mistakes: Callable[[], Mapping[str, np.ndarray]] = dict


@dataclass(frozen=True)
class WrittenVerdict:
    status: WrittenStatus
    formula: str = ""
    cell: int | None = None
    rel_error: float | None = None
    diagnosis: tuple[str, ...] = ()
    detail: str = ""  # why it was not checked, or what is wrong, in the student's terms


NOT_FOUND = WrittenVerdict("not_found")


@dataclass(frozen=True)
class _Judging:
    problem: Problem
    written: WrittenRubric
    cases: Sequence[WrittenCase]
    definitions: Mapping[str, Definition]
    budget: Budget = field(default_factory=Budget)

    def scope(self, case: WrittenCase) -> Scope:
        return scope_for(self.problem, self.written, case.case, self.definitions, self.budget)

    def values(self, tree: n.Node) -> list[np.ndarray | None]:
        """The formula's answer on every case (None where it is not of the answer's shape)."""
        return [as_answer(evaluate(tree, self.scope(c)), c.expected) for c in self.cases]

    def agrees_on_first(self, tree: n.Node) -> bool:
        first = self.cases[0]
        value = as_answer(evaluate(tree, self.scope(first)), first.expected)
        return value is not None and self.agrees_with(value, first.expected)

    def agrees_with(self, value: np.ndarray, expected: np.ndarray) -> bool:
        finite = np.isfinite(value).all() and np.isfinite(expected).all()
        return not finite or relative_error(value, expected) <= self.written.rtol

    def agrees(self, values: Sequence[np.ndarray | None]) -> bool:
        errors = self.errors(values)
        return errors is not None and max(errors) <= self.written.rtol

    def errors(self, values: Sequence[np.ndarray | None]) -> list[float] | None:
        """Relative errors on the cases where the formula is finite (in exact arithmetic a
        formula cannot overflow); None when there is no such case or a shape is wrong."""
        if any(value is None for value in values):
            return None
        pairs = [
            (value, case.expected)
            for value, case in zip(values, self.cases, strict=True)
            if value is not None and np.isfinite(value).all() and np.isfinite(case.expected).all()
        ]
        return [relative_error(value, expected) for value, expected in pairs] or None


def judge(
    located: Located, problem: Problem, written: WrittenRubric, cases: Sequence[WrittenCase]
) -> WrittenVerdict:
    """The verdict on the first candidate that can be evaluated; a candidate whose left-hand
    side names the derivative is judged even when its shapes do not fit."""
    if not located.candidates or not cases:
        return NOT_FOUND
    judging = _Judging(problem, written, cases, located.definitions)
    unchecked: WrittenVerdict | None = None
    wrong_alone: WrittenVerdict | None = None
    for candidate in located.candidates:
        verdict = _judge_one(judging, candidate)
        if verdict.status == "disagrees" and candidate.claimed:
            return _alternative(judging, located) or verdict
        if verdict.status == "agrees":
            return verdict
        # A formula on its own that disagrees may not be meant as the answer: an earlier one
        # that agrees is taken instead.
        if verdict.status == "disagrees":
            wrong_alone = wrong_alone or verdict
        elif candidate.claimed:
            unchecked = unchecked or verdict
    return wrong_alone or unchecked or NOT_FOUND


def _alternative(judging: _Judging, located: Located) -> WrittenVerdict | None:
    for candidate in located.alternatives:
        verdict = _judge_one(judging, candidate)
        if verdict.status == "agrees":
            return verdict
    return None


def _judge_one(judging: _Judging, candidate: Candidate) -> WrittenVerdict:
    shown = _shown(candidate.formula)
    cell = candidate.statement.cell
    try:
        formula = parse_formula(candidate.formula)
        values = judging.values(formula.tree)
    except EvaluationError as error:
        if error.failure == "shapes" and candidate.claimed:
            return _wrong_shapes(judging, formula, cell, str(error))
        return WrittenVerdict("not_checked", shown, cell, detail=str(error))
    except FormulaError as error:
        return WrittenVerdict("not_checked", shown, cell, detail=f"it cannot be read: {error}")
    errors = judging.errors(values)
    if errors is None:
        if not candidate.claimed:
            return WrittenVerdict("not_checked", shown, cell, detail="not of the answer's shape")
        return _disagrees(judging, formula, cell, None, values, "it is not of the answer's shape")
    if max(errors) <= judging.written.rtol:
        return WrittenVerdict("agrees", shown, cell, rel_error=max(errors))
    return _disagrees(judging, formula, cell, max(errors), values, "")


def _disagrees(
    judging: _Judging,
    formula: Formula,
    cell: int,
    error: float | None,
    values: Sequence[np.ndarray | None],
    detail: str,
) -> WrittenVerdict:
    diagnosis, found = _diagnosed(judging, formula, values)
    return WrittenVerdict(
        "disagrees", _shown(formula.text), cell, error, diagnosis, found or detail
    )


def _wrong_shapes(judging: _Judging, formula: Formula, cell: int, why: str) -> WrittenVerdict:
    diagnosis, found = _transposed_symbols(judging, formula)
    detail = found or f"its shapes do not fit ({why})"
    return WrittenVerdict(
        "disagrees", _shown(formula.text), cell, None, ("shapes", *diagnosis), detail
    )


def _diagnosed(
    judging: _Judging, formula: Formula, values: Sequence[np.ndarray | None]
) -> tuple[tuple[str, ...], str]:
    """(diagnosis names, the sentence for the first), most specific first."""
    diagnoses = (_known_mistake, _whole, _transposed_symbols, _term_factor, _some_families)
    for diagnose_with in diagnoses:
        found = diagnose_with(judging, formula, values)
        if found[0]:
            return found
    return (), ""


def _known_mistake(
    judging: _Judging, formula: Formula, values: Sequence[np.ndarray | None] = ()
) -> tuple[tuple[str, ...], str]:
    if not judging.problem.mistakes or any(value is None for value in values):
        return (), ""
    answers = [case.mistakes() for case in judging.cases]
    for mistake in judging.problem.mistakes:
        known = [
            (value, answer[mistake.name])
            for value, answer in zip(values, answers, strict=True)
            if mistake.name in answer and value is not None
        ]
        if known and all(matches(value, wrong) for value, wrong in known):
            return (f"mistake:{mistake.name}",), mistake.hint
    return (), ""


def _transposed_symbols(
    judging: _Judging, formula: Formula, values: Sequence[np.ndarray | None] = ()
) -> tuple[tuple[str, ...], str]:
    """One symbol transposed (or not) makes the formula agree: "has V where ... has V^T"."""
    for site, replacement, name, added in _transpose_sites(formula.tree, judging):
        mutated = _replaced(formula.tree, site, replacement)
        try:
            if judging.agrees_on_first(mutated) and judging.agrees(judging.values(mutated)):
                have, want = (name, f"{name}ᵀ") if added else (f"{name}ᵀ", name)
                return (
                    (f"symbol_transposed:{name}",),
                    f"it has {have} where the reference has {want}",
                )
        except FormulaError:
            continue
    return (), ""


def _whole(
    judging: _Judging, formula: Formula, values: Sequence[np.ndarray | None]
) -> tuple[tuple[str, ...], str]:
    first, expected = values[0], judging.cases[0].expected
    if first is None:
        return (), ""
    found = [
        d for d in diagnose(first, expected, relative_error(first, expected)) if d != "precision"
    ]
    if not found:
        return (), ""
    if found[0] == "transposed":
        return ("transposed",), "it is the transpose of the correct result"
    factor = float(found[0].split(":", 1)[1])
    if factor == -1.0:
        return tuple(found), "its sign is flipped"
    return tuple(
        found
    ), f"it is exactly {NAMED_FACTORS.get(factor, f'{factor:g}')} times the correct result"


def _term_factor(
    judging: _Judging, formula: Formula, values: Sequence[np.ndarray | None] = ()
) -> tuple[tuple[str, ...], str]:
    """One term of a sum is off by a constant factor (or should not be there)."""
    tree = formula.tree
    if not isinstance(tree, n.Add):
        return (), ""
    case = judging.cases[0]
    scope = judging.scope(case)
    try:
        terms = [evaluate(term, scope) for term in tree.terms]
    except FormulaError:
        return (), ""
    for position, term in enumerate(tree.terms):
        others = [value for k, value in enumerate(terms) if k != position]
        needed = _minus(case.expected, _total(others), case.expected)
        own = as_answer(terms[position], case.expected)
        if needed is None or own is None:
            continue
        quoted = formula.quote(_unsigned(term))
        if float(np.linalg.norm(needed)) <= 1e-9 * max(
            float(np.linalg.norm(case.expected)), 1e-300
        ):
            return ("extra_term",), f"its term {quoted} should not be there"
        factor = fitted_factor(own, needed)
        if factor is not None:
            named = NAMED_FACTORS.get(factor, f"{factor:g}")
            return (
                f"term_factor:{factor:g}",
            ), f"its term {quoted} is {named} times what it should be"
    return (), ""


def _some_families(
    judging: _Judging, formula: Formula, values: Sequence[np.ndarray | None]
) -> tuple[tuple[str, ...], str]:
    """Right on some case families only (say symmetric inputs): a step of the derivation
    assumes what only those inputs have."""
    right: dict[str, bool] = {}
    for value, case in zip(values, judging.cases, strict=True):
        agrees = value is not None and judging.agrees_with(value, case.expected)
        family = case.case.family
        right[family] = right.get(family, True) and agrees
    passing = [family for family, ok in right.items() if ok]
    failing = [family for family, ok in right.items() if not ok]
    if not passing or not failing:
        return (), ""
    names = ", ".join(f"'{family}'" for family in passing)
    others = ", ".join(f"'{family}'" for family in failing)
    return (
        (f"only_families:{','.join(passing)}",),
        f"it agrees on the {names} inputs but not on the {others} ones: a step may assume what "
        "only those inputs have (symmetry, a square shape)",
    )


def _unsigned(term: n.Node) -> n.Node:
    return term.operand if isinstance(term, n.Negate) else term


def _total(values: Sequence[Value]) -> Value | None:
    total: Value | None = None
    for value in values:
        total = value if total is None else add(total, value)
    return total


def _minus(expected: np.ndarray, others: Value | None, like: np.ndarray) -> np.ndarray | None:
    if others is None:
        return expected
    other = as_answer(others, like)
    return None if other is None else expected - other


def as_answer(value: Value, expected: np.ndarray) -> np.ndarray | None:
    """The formula's value in the answer's shape (a column or a row for a vector answer, the
    identity at the answer's size), or None when it is of another shape."""
    if isinstance(value, Eye):
        square = expected.ndim == 2 and expected.shape[0] == expected.shape[1]
        return value.scale * np.eye(expected.shape[0]) if square else None
    if not isinstance(value, np.ndarray):
        return None
    if value.shape == expected.shape:
        return value
    if (
        value.size == expected.size
        and (expected.ndim <= 1)
        and (value.ndim < 2 or 1 in value.shape)
    ):
        return value.reshape(expected.shape)
    return None


def _transpose_sites(tree: n.Node, judging: _Judging) -> Iterator[tuple[n.Node, n.Node, str, bool]]:
    """(node, its replacement, symbol, whether a transpose is added) for each matrix symbol:
    V becomes V^T and V^T becomes V."""
    scope = judging.scope(judging.cases[0])
    matrices = {
        name
        for name, value in scope.values.items()
        if isinstance(value, np.ndarray) and value.ndim == 2 and min(value.shape) > 1
    }
    count = 0
    for node in _walk(tree):
        if count >= MAX_MUTATIONS:
            return
        if isinstance(node, n.Power) and isinstance(node.base, n.Symbol) and _transposes(node):
            if node.base.name in matrices:
                count += 1
                yield node, node.base, node.base.name, False
        elif isinstance(node, n.Symbol) and node.name in matrices:
            count += 1
            transposed = n.Power(node.start, node.end, node, n.Symbol(node.end, node.end, "T"))
            yield node, transposed, node.name, True


def _transposes(node: n.Power) -> bool:
    exponent = node.exponent
    return isinstance(exponent, n.Symbol) and exponent.name in ("T", "\\top")


def _walk(node: n.Node) -> Iterator[n.Node]:
    """Every node, parents before children; a symbol already under a transpose is skipped
    (its Power stands for it)."""
    yield node
    if isinstance(node, n.Power) and isinstance(node.base, n.Symbol) and _transposes(node):
        return
    for child in n.children(node):
        yield from _walk(child)


def _replaced(node: n.Node, old: n.Node, new: n.Node) -> n.Node:
    """`node` with the very object `old` (not an equal one elsewhere) replaced by `new`."""
    if node is old:
        return new
    changes: dict[str, object] = {}
    for item in fields(node):
        value = getattr(node, item.name)
        updated = _replaced_in(value, old, new)
        if updated is not value:
            changes[item.name] = updated
    return replace(node, **changes) if changes else node  # type: ignore[arg-type]


def _replaced_in(value: object, old: n.Node, new: n.Node) -> object:
    if isinstance(value, n.Node):
        return _replaced(value, old, new)
    if isinstance(value, tuple):
        parts = tuple(_replaced_in(part, old, new) for part in value)
        return value if all(a is b for a, b in zip(parts, value, strict=True)) else parts
    return value


def _shown(formula: str) -> str:
    flat = " ".join(formula.split())
    return flat if len(flat) <= MAX_SHOWN_FORMULA else flat[: MAX_SHOWN_FORMULA - 3] + "..."
