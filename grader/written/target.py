"""What a problem's written answer is about, and how its symbols bind: from the reference's
argument names with the rubric's `written` section on top.

`Target` says which left-hand sides announce the answer (the derivative of J with respect to
U: `\\nabla_U J`, `\\frac{\\partial J}{\\partial U}`, `\\frac{dJ(U,V)}{dU}`, ...); `scope_for`
turns one hidden case into the values the formula's symbols stand for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from grader.assignment import Arg, Problem
from grader.inputs import Case
from grader.messages import supplied_function
from grader.rubric import WrittenRubric
from grader.written import nodes as n
from grader.written.evaluate import Budget, Definition, Function, Scope, Value, as_value
from grader.written.latex import parse_formula

GREEK_NAMES = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega",
)  # fmt: skip
DIFFERENTIALS = frozenset({"d"})


@dataclass(frozen=True)
class Target:
    """The derivative a problem asks for, in the notebook's notation."""

    functions: frozenset[str]  # empty: any single letter that is not an argument
    variable: str
    order: int
    answer_names: frozenset[str]
    arguments: frozenset[str]  # LaTeX names bound to the problem's arguments

    def is_function(self, name: str) -> bool:
        if self.functions:
            return name in self.functions
        plain = name.removeprefix("\\")
        single = len(plain) == 1 or plain in GREEK_NAMES
        return single and name not in self.arguments and plain not in DIFFERENTIALS


@dataclass(frozen=True)
class Claim:
    """What a left-hand side says it is: the derivative of `function` with respect to
    `variable` (None when not written), of `order`, at `arguments` (None when not written)."""

    function: str | None
    variable: str | None
    order: int
    arguments: tuple[str, ...] | None
    names_answer: bool = False


def target_for(problem: Problem, written: WrittenRubric) -> Target:
    names = latex_names(problem, written)
    variable = written.wrt or next(
        (latex for latex, arg in names.items() if arg == problem.args[problem.argnum].name),
        problem.args[problem.argnum].name,
    )
    order = 2 if problem.derivative == "hessian" else 1
    default_answers = {"hessian": {"H"}, "jacobian": {"J"}}.get(problem.derivative, set())
    answers = set(written.answer_names) or default_answers
    functions = frozenset(written.function)
    return Target(functions, variable, order, frozenset(answers - functions), frozenset(names))


def latex_names(problem: Problem, written: WrittenRubric) -> dict[str, str]:
    """LaTeX symbol -> argument name: each argument under its own name when that is a letter,
    a Greek letter it abbreviates (lambd -> \\lambda), `\\nabla f` and `f'` for a function argument
    named grad_f; the rubric's `symbols` on top."""
    names: dict[str, str] = {}
    for arg in problem.args:
        for latex in _default_latex(arg):
            names.setdefault(latex, arg.name)
    names.update(written.symbols)
    return names


def _default_latex(arg: Arg) -> list[str]:
    name = arg.name
    if arg.kind == "function":
        base = name.removeprefix("grad_").removeprefix("nabla_")
        return [f"\\nabla {base}", f"{base}'"] if base != name else [name]
    if len(name) == 1 or (name[0].isalpha() and name[1:].isdigit()):
        return [name]
    greek = [g for g in GREEK_NAMES if g == name or (len(name) >= 3 and g.startswith(name))]
    return [f"\\{greek[0]}"] if len(greek) == 1 else []


def default_rows(problem: Problem, names: Mapping[str, str]) -> dict[str, str]:
    """x -> X for each matrix argument X whose lower-case letter names nothing else: x_i is
    the i-th row of X (as a column)."""
    matrices = {arg.name for arg in problem.args if len(arg.shape) == 2}
    return {
        latex.lower(): latex
        for latex, arg in names.items()
        if arg in matrices and len(latex) == 1 and latex.isupper() and latex.lower() not in names
    }


def scope_for(
    problem: Problem,
    written: WrittenRubric,
    case: Case,
    definitions: Mapping[str, Definition],
    budget: Budget,
) -> Scope:
    names = latex_names(problem, written)
    by_arg = dict(zip(problem.arg_names(), case.args, strict=True))
    kinds = {arg.name: arg.kind for arg in problem.args}
    values: dict[str, Value] = {}
    for latex, arg in names.items():
        if arg not in by_arg:
            continue
        value = by_arg[arg]
        if kinds[arg] == "function":
            values[latex] = _supplied(str(value))
        else:
            values[latex] = as_value(value)
    rows = {**default_rows(problem, names), **written.rows}
    return Scope(values, rows, dict(case.sizes), definitions, budget=budget)


def rubric_definitions(written: WrittenRubric) -> dict[str, Definition]:
    """The rubric's definitions (validated to parse when the rubric was loaded)."""
    return {
        name: Definition(None, parse_formula(text).tree)
        for name, text in written.definitions.items()
    }


def _supplied(name: str) -> Function:
    gradient = supplied_function(name, "gradient")

    def apply(array: np.ndarray) -> Value:
        return as_value(np.asarray(gradient(array.reshape(-1)), dtype=np.float64))

    return Function(f"the gradient of {name}", apply)


def claim_of(lhs: n.Node, target: Target) -> Claim | None:
    """The derivative a left-hand side names, or None: `\\nabla_U J(U,V)`, `\\nabla^2 f(w)`,
    `\\frac{\\partial J}{\\partial U}`, `\\frac{d}{dX} f(X)`, `f'(x)`, `H(w)`. Words before it
    (`so \\nabla f(X)`) are passed over."""
    items = _items(lhs)
    for position, node in enumerate(items):
        claim = _claim_at(items, position, node, target)
        if claim is not None:
            return claim
    return None


def _items(node: n.Node) -> list[n.Node]:
    if isinstance(node, n.Product):
        return [node.first, *(item for _, item in node.rest)]
    return [node]


def _claim_at(items: list[n.Node], position: int, node: n.Node, target: Target) -> Claim | None:
    after = items[position + 1 :]
    if isinstance(node, n.Nabla) and after and _name(after[0]) is not None:
        return Claim(_name(after[0]), _name(node.variable), node.order, _arguments(after[1:]))
    if isinstance(node, n.Fraction):
        return _fraction_claim(node, after)
    if isinstance(node, n.Prime) and _name(node.base) is not None:
        return Claim(_name(node.base), None, 1, _arguments(after))
    name = _name(node.base if isinstance(node, n.Subscript) else node)
    if position == 0 and name in target.answer_names and len(items) <= 2:
        return Claim(None, None, target.order, _arguments(after), names_answer=True)
    return None


def _fraction_claim(node: n.Fraction, after: list[n.Node]) -> Claim | None:
    """d or partial over d or partial then the variable, e.g. \\frac{\\partial^2 f}{\\partial w^2};
    the function in the numerator or right after the fraction."""
    bottom = _items(node.denominator)
    order, variable = _denominator(bottom)
    if variable is None:
        return None
    top = _items(node.numerator)
    top_order = _differential_order(top[0])
    rest = top[1:] if top_order else top
    if not rest:  # \frac{d}{dX} f(X)
        rest = after
    function = _name(rest[0]) if rest else None
    if function is None:
        return None
    return Claim(function, variable, max(order, top_order or 1), _arguments(rest[1:]))


def _denominator(items: list[n.Node]) -> tuple[int, str | None]:
    """(order, variable) of `dU`, `\\partial w^2`, `\\partial w \\partial w^T`, else (0, None)."""
    if len(items) < 2 or not _differential_order(items[0]):
        return 0, None
    base = items[1].base if isinstance(items[1], n.Power) else items[1]
    variable = _name(base)
    if variable is None:
        return 0, None
    squared = isinstance(items[1], n.Power) and _is_two(items[1].exponent)
    twice = len(items) == 4 and _differential_order(items[2]) > 0
    return (2 if squared or twice else 1), variable


def _is_two(node: n.Node) -> bool:
    return isinstance(node, n.Number) and node.value == 2


def _differential_order(node: n.Node) -> int:
    if isinstance(node, n.Partial):
        return node.order
    if isinstance(node, n.Symbol) and node.name in DIFFERENTIALS:
        return 1
    if isinstance(node, n.Power) and isinstance(node.base, n.Symbol) and _is_two(node.exponent):
        return 2 if node.base.name in DIFFERENTIALS else 0
    return 0


def _name(node: n.Node | None) -> str | None:
    if isinstance(node, n.Symbol):
        return node.name
    if isinstance(node, n.Group) and len(node.items) == 1:
        return _name(node.items[0])
    return None


def _arguments(after: list[n.Node]) -> tuple[str, ...] | None:
    if not after or not isinstance(after[0], n.Group):
        return None
    return tuple(name for name in (_name(item) for item in after[0].items) if name)


def claims_target(claim: Claim, target: Target, anchored: bool) -> bool:
    """The claim is this problem's answer. Away from the problem's function (`anchored` false)
    it must also name the variable, in a subscript, a denominator or the arguments."""
    if claim.order != target.order:
        return False
    if claim.names_answer:
        return anchored or (claim.arguments is not None and target.variable in claim.arguments)
    if claim.function is None or not target.is_function(claim.function):
        return False
    if claim.variable is not None:
        return claim.variable == target.variable
    if claim.arguments is not None:
        return target.variable in claim.arguments
    return anchored
