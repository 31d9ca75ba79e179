"""Evaluate a parsed formula in float64 with numpy, in the trusted process.

A formula is data: its symbols are looked up in `Scope` (the problem's arguments as the rubric
binds them, the student's own definitions, a fixed table of operators) and nothing else.
Vectors are columns, so `w^T x` is a 1x1 product and `x x^T` an outer product; a 1x1 result
multiplies like a scalar. Products written side by side are matrix products, and a function
written before its argument is applied to it (`\\sigma(z)`, `\\det X`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from grader.written import nodes as n
from grader.written.latex import FormulaError

Failure = Literal["unbound", "unsupported", "shapes"]
MAX_SUM_TERMS = 100_000
MAX_ENTRIES = 10_000_000


class EvaluationError(FormulaError):
    """Why a formula has no value: a symbol the rubric does not bind ("unbound"), notation
    outside what is evaluated ("unsupported"), or shapes that do not fit ("shapes": the formula
    itself is wrong, whatever its symbols mean)."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True)
class Eye:
    """The identity (times a scalar), sized by what it meets."""

    scale: float = 1.0


@dataclass(frozen=True)
class Ones:
    """The vector of ones (a row when transposed), sized by what it meets."""

    row: bool = False

    def like(self, size: int) -> np.ndarray:
        return np.ones((1, size)) if self.row else np.ones((size, 1))


@dataclass(frozen=True)
class Function:
    name: str
    apply: Callable[[np.ndarray], Value]


Value = np.ndarray | Eye | Ones | Function


@dataclass(frozen=True)
class Definition:
    """`s = ...` or `p_i = ...` written by the student before the answer."""

    index: str | None
    tree: n.Node


class Budget:
    """How much more a judging may evaluate, in nodes and in seconds: nested sums over large
    indices, large powers, or many candidate corrections of a long formula stop with "not
    checked" instead of running on. Honest formulas take milliseconds."""

    CHECK_EVERY = 256

    def __init__(self, nodes: int = 500_000, seconds: float = 3.0) -> None:
        self.remaining = nodes
        self.deadline = time.monotonic() + seconds

    def spend(self) -> None:
        self.remaining -= 1
        out_of_time = self.remaining % self.CHECK_EVERY == 0 and time.monotonic() > self.deadline
        if self.remaining < 0 or out_of_time:
            raise EvaluationError("unsupported", "it takes too long to evaluate")


@dataclass(frozen=True)
class Scope:
    """What a formula's symbols mean. `values` holds arrays (vectors as columns), scalars and
    functions by LaTeX name (`U`, `\\lambda`, `\\nabla f`); `rows` says that `x_i` is the i-th
    row of X; `sizes` gives the case's sizes for sum limits."""

    values: Mapping[str, Value]
    rows: Mapping[str, str] = field(default_factory=dict)
    sizes: Mapping[str, int] = field(default_factory=dict)
    definitions: Mapping[str, Definition] = field(default_factory=dict)
    indices: Mapping[str, int] = field(default_factory=dict)
    expanding: frozenset[str] = frozenset()
    budget: Budget = field(default_factory=Budget)


def as_value(value: object) -> Value:
    """An argument as formulas see it: arrays float64 with vectors as columns."""
    if isinstance(value, Eye | Ones | Function):
        return value
    array = np.asarray(value, dtype=np.float64)
    return array.reshape(-1, 1) if array.ndim == 1 else array


def evaluate(tree: n.Node, scope: Scope) -> Value:
    try:
        with np.errstate(all="ignore"):
            return _evaluate(tree, scope)
    except np.linalg.LinAlgError:
        raise EvaluationError("shapes", "it inverts a singular matrix") from None
    except ArithmeticError:
        raise EvaluationError("unsupported", "it divides by zero or overflows") from None
    except RecursionError:
        raise EvaluationError("unsupported", "it is nested too deeply") from None


def _evaluate(node: n.Node, scope: Scope) -> Value:
    scope.budget.spend()
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise EvaluationError("unsupported", _unsupported(node))
    return _wrapped(handler(node, scope))


def _wrapped(value: object) -> Value:
    """numpy's operations on 0-d arrays give numpy scalars: back to (0-d) arrays."""
    if isinstance(value, np.ndarray | Eye | Ones | Function):
        return value
    return np.asarray(value, dtype=np.float64)


def _unsupported(node: n.Node) -> str:
    if isinstance(node, n.Nabla | n.Partial):
        return "it contains a derivative that is not worked out"
    return f"{type(node).__name__.lower()} is not evaluated"


def _number(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Number)
    return np.asarray(node.value)


def _symbol(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Symbol)
    return lookup(_key(node), scope)


def _key(node: n.Symbol) -> str:
    if node.name == "1" and node.decoration in ("mathbf", "mathbb", "bm", "boldsymbol"):
        return "\\mathbf{1}"
    return node.name


def lookup(name: str, scope: Scope) -> Value:
    if name in scope.values:
        return scope.values[name]
    if name in scope.definitions:
        return _expand(name, scope)
    if name in scope.sizes:
        return np.asarray(float(scope.sizes[name]))
    if name in BUILTINS:
        return BUILTINS[name]
    raise EvaluationError("unbound", f"{_shown(name)} is not one of this problem's symbols")


def _shown(name: str) -> str:
    return name if len(name) <= 20 else name[:20] + "..."


def _expand(name: str, scope: Scope, index: int | None = None) -> Value:
    definition = scope.definitions[name]
    if name in scope.expanding:
        raise EvaluationError("unsupported", f"{_shown(name)} is defined in terms of itself")
    inner = replace(scope, expanding=scope.expanding | {name})
    if definition.index is not None:
        if index is None:
            raise EvaluationError("unbound", f"{_shown(name)} is defined only entry by entry")
        inner = replace(inner, indices={**scope.indices, definition.index: index})
    return _evaluate(definition.tree, inner)


def _subscript(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Subscript)
    base, index = node.base, node.index
    if isinstance(base, n.Norm):
        return _norm_value(_evaluate(base.operand, scope), _text(index))
    if not isinstance(base, n.Symbol):
        raise EvaluationError("unsupported", "a subscript on an expression")
    if isinstance(index, n.Symbol) and index.name in scope.indices:
        return _entry(base.name, scope.indices[index.name], scope)
    if base.name == "I":
        return Eye()
    composite = f"{base.name}_{_text(index)}"
    if composite in scope.values:
        return scope.values[composite]
    if _text(index).isalpha() and _text(index).islower():
        raise EvaluationError(
            "unsupported",
            f"it is written entry by entry ({_shown(composite)}): only whole-array formulas and "
            "sums over an index are checked",
        )
    raise EvaluationError("unbound", f"{_shown(composite)} is not one of this problem's symbols")


def _text(node: n.Node) -> str:
    if isinstance(node, n.Symbol):
        return node.name
    if isinstance(node, n.Number):
        return f"{node.value:g}"
    if isinstance(node, n.Product):
        return "".join(_text(item) for item in (node.first, *(i for _, i in node.rest)))
    if isinstance(node, n.Group) and len(node.items) == 1:
        return _text(node.items[0])
    return "?"


def _entry(name: str, position: int, scope: Scope) -> Value:
    """x_i: the i-th row of X (as a column) when the rubric says so, the i-th entry of a
    vector, or the i-th value of something the student defined entry by entry."""
    if name in scope.definitions and scope.definitions[name].index is not None:
        return _expand(name, scope, position)
    if name in scope.rows:
        matrix = _array(lookup(scope.rows[name], scope), name)
        _check_position(position, matrix.shape[0], name)
        return np.asarray(matrix[position - 1].reshape(-1, 1))
    vector = _array(lookup(name, scope), name)
    if vector.ndim != 2 or 1 not in vector.shape:
        raise EvaluationError("unbound", f"{_shown(name)}_i: {_shown(name)} is not a vector")
    flat = vector.reshape(-1)
    _check_position(position, flat.shape[0], name)
    return np.asarray(flat[position - 1])


def _check_position(position: int, length: int, name: str) -> None:
    if not 1 <= position <= length:
        raise EvaluationError("shapes", f"{_shown(name)} has {length} entries, not {position}")


def _array(value: Value, name: str) -> np.ndarray:
    if isinstance(value, np.generic | float):
        return np.asarray(value, dtype=np.float64)
    if not isinstance(value, np.ndarray):
        raise EvaluationError("unsupported", f"{_shown(name)} is not an array here")
    return value


def _power(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Power)
    exponent = node.exponent
    index = _index_in(exponent, scope)
    if index is not None and isinstance(node.base, n.Symbol):
        return _entry(node.base.name, index, scope)  # x^{(i)}, the i-th example
    if isinstance(node.base, n.Symbol) and node.base.name == "e" and "e" not in scope.values:
        return np.asarray(np.exp(_array(_evaluate(exponent, scope), "an exponent")))
    return _raised(_evaluate(node.base, scope), exponent, scope)


def _raised(value: Value, exponent: n.Node, scope: Scope) -> Value:
    """`value` to a written exponent: a transpose, an inverse (transposed) or a power."""
    if _is_transpose(exponent):
        return _transpose(value)
    if isinstance(exponent, n.Negate) and _is_one(exponent.operand):
        return _inverse(value)
    if isinstance(exponent, n.Negate) and _is_transpose(exponent.operand):
        return _transpose(_inverse(value))
    return _raise(value, _evaluate(exponent, scope))


def _index_in(exponent: n.Node, scope: Scope) -> int | None:
    if isinstance(exponent, n.Group) and len(exponent.items) == 1:
        inner = exponent.items[0]
        if isinstance(inner, n.Symbol) and inner.name in scope.indices:
            return scope.indices[inner.name]
    return None


def _is_transpose(node: n.Node) -> bool:
    if isinstance(node, n.Group) and len(node.items) == 1:
        return _is_transpose(node.items[0])
    return isinstance(node, n.Symbol) and node.name in ("T", "\\top")


def _is_one(node: n.Node) -> bool:
    return isinstance(node, n.Number) and node.value == 1


def _transpose(value: Value) -> Value:
    if isinstance(value, Eye):
        return value
    if isinstance(value, Ones):
        return Ones(not value.row)
    return _array(value, "a function").T


def _inverse(value: Value) -> Value:
    if isinstance(value, Eye):
        return Eye(1.0 / value.scale)
    array = _array(value, "a function")
    if array.ndim == 0 or array.shape == (1, 1):
        return np.asarray(1.0 / array)
    if array.shape[0] != array.shape[1]:
        raise EvaluationError("shapes", f"the inverse of a {_dims(array)} matrix")
    return np.linalg.inv(array)


def _raise(base: Value, exponent: Value) -> Value:
    if not isinstance(exponent, np.ndarray) or exponent.size != 1:
        raise EvaluationError("unsupported", "a power that is not a number")
    power = float(exponent.reshape(()))
    if isinstance(base, Eye):
        return Eye(base.scale**power)
    array = _array(base, "a function")
    if array.size == 1:
        return np.asarray(array.reshape(()) ** power)
    if power.is_integer() and 1 <= power <= 8 and array.shape[0] == array.shape[1]:
        return np.linalg.matrix_power(array, int(power))
    raise EvaluationError("unsupported", f"a {_dims(array)} array to the power {power:g}")


def _prime(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Prime)
    if isinstance(node.base, n.Symbol):
        name = node.base.name
        bound = scope.values.get(name)
        if isinstance(bound, np.ndarray) and bound.ndim == 2:
            return bound.T  # X' for X^T, as in MATLAB
        return lookup(name + "'", scope)
    raise EvaluationError("unsupported", "a prime on an expression")


def _negate(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Negate)
    return _scaled(_evaluate(node.operand, scope), -1.0)


def _scaled(value: Value, factor: float) -> Value:
    if isinstance(value, Eye):
        return Eye(value.scale * factor)
    return _array(value, "a function") * factor


def _add(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Add)
    total = _evaluate(node.terms[0], scope)
    for term in node.terms[1:]:
        total = add(total, _evaluate(term, scope))
    return total


def add(left: Value, right: Value) -> Value:
    left, right = _sized(left, right), _sized(right, left)
    if isinstance(left, Eye) and isinstance(right, Eye):
        return Eye(left.scale + right.scale)
    if isinstance(left, Eye):
        return add(right, left)
    a = _array(left, "a function")
    if isinstance(right, Eye):
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise EvaluationError("shapes", f"the identity added to a {_dims(a)} array")
        return a + right.scale * np.eye(a.shape[0])
    b = _array(right, "a function")
    if a.shape == b.shape or a.size == 1 or b.size == 1:
        return np.asarray(_squeezed(a) + _squeezed(b))
    raise EvaluationError("shapes", f"a {_dims(a)} and a {_dims(b)} array added")


def _squeezed(array: np.ndarray) -> np.ndarray:
    return array.reshape(()) if array.size == 1 and array.ndim else array


def _product(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Product)
    items: list[tuple[str, n.Node]] = [("juxt", node.first), *node.rest]
    # Written side by side binds tighter than an entrywise product: y \odot Xw is y * (Xw).
    value, position = _operand(items, 0, scope)
    pending: list[Value] = []
    while position < len(items):
        how = items[position][0]
        right, position = _operand(items, position, scope)
        if how == "hadamard":
            pending.append(value)
            value = right
        else:
            value = _JOINS[how](value, right)
    for left in reversed(pending):
        value = entrywise(left, value)
    return value


def _operand(items: list[tuple[str, n.Node]], position: int, scope: Scope) -> tuple[Value, int]:
    """The value of the factor at `position` and where the next one starts: a function takes
    the factor written right after it as its argument (`\\log \\det X` is log(det(X)))."""
    node = items[position][1]
    if isinstance(node, n.Nabla) and position + 1 < len(items):
        named = items[position + 1][1]
        if node.order == 1 and node.variable is None and isinstance(named, n.Symbol):
            value: Value = lookup(f"\\nabla {named.name}", scope)
            position += 1
        else:
            raise EvaluationError("unsupported", _unsupported(node))
    else:
        value = _evaluate(node, scope)
    position += 1
    if isinstance(value, Function):
        if position >= len(items) or items[position][0] != "juxt":
            raise EvaluationError("unsupported", f"{value.name} without its argument")
        written = items[position][1]
        if isinstance(written, n.Power) and isinstance(written.base, n.Group):
            # f(x)^T and \log(x)^2: the power is of the result, not of the argument
            result = _apply(value, _evaluate(written.base, scope))
            return _raised(result, written.exponent, scope), position + 1
        argument, position = _operand(items, position, scope)
        return _apply(value, argument), position
    return value, position


def _apply(function: Function, argument: Value) -> Value:
    if isinstance(argument, Eye | Ones | Function):
        raise EvaluationError("unsupported", f"{function.name} of the identity or a function")
    return _wrapped(function.apply(argument))


def _sized(value: Value, other: Value) -> Value:
    """A ones vector takes its length from the array it is added to or multiplied with."""
    if not isinstance(value, Ones) or not isinstance(other, np.ndarray) or other.ndim != 2:
        return value
    return value.like(other.shape[1] if value.row else other.shape[0])


def multiply(left: Value, right: Value) -> Value:
    if isinstance(left, Ones) and isinstance(right, np.ndarray) and right.ndim == 2:
        left = left.like(right.shape[0]) if left.row else left
    if isinstance(right, Ones) and isinstance(left, np.ndarray) and left.ndim == 2:
        right = right.like(left.shape[1]) if not right.row else right
    if isinstance(left, Eye) or isinstance(right, Eye):
        return _times_identity(left, right)
    a, b = _array(left, "a function"), _array(right, "a function")
    if a.size == 1 or b.size == 1:
        return np.asarray(_squeezed(a) * _squeezed(b))
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:
        _check_size(a.shape[0] * b.shape[1])
        return np.asarray(a @ b)
    raise EvaluationError("shapes", f"a {_dims(a)} times a {_dims(b)} array")


def _times_identity(left: Value, right: Value) -> Value:
    """cI times a matrix is c times it; a scalar times cI stays an identity."""
    eye, other = (left, right) if isinstance(left, Eye) else (right, left)
    assert isinstance(eye, Eye)
    if isinstance(other, Eye):
        return Eye(eye.scale * other.scale)
    array = _array(other, "a function")
    if array.size == 1:
        return Eye(eye.scale * float(array.reshape(())))
    return array * eye.scale


def _check_size(entries: int) -> None:
    if entries > MAX_ENTRIES:
        raise EvaluationError("unsupported", "an intermediate result too large to evaluate")


def entrywise(left: Value, right: Value) -> Value:
    left, right = _sized(left, right), _sized(right, left)
    a, b = _array(left, "the identity"), _array(right, "the identity")
    if a.shape != b.shape and a.size != 1 and b.size != 1:
        raise EvaluationError("shapes", f"a {_dims(a)} and a {_dims(b)} array entrywise")
    return np.asarray(_squeezed(a) * _squeezed(b))


def divide(left: Value, right: Value) -> Value:
    b = _array(right, "a function")
    if b.size == 1:
        return _scaled(left, 1.0 / float(b.reshape(())))
    a = _array(left, "the identity")
    if a.shape == b.shape:
        return np.asarray(a / b)
    raise EvaluationError("unsupported", f"a division by a {_dims(b)} array")


def _side_by_side(left: Value, right: Value) -> Value:
    """Two columns of one length side by side cannot be a matrix product; written so
    (\\sigma(z)(1 - \\sigma(z))) they mean the entrywise one."""
    if _same_columns(left, right):
        return entrywise(left, right)
    return multiply(left, right)


def _dot(left: Value, right: Value) -> Value:
    """`a \\cdot b` of two columns of one length is their inner product."""
    if _same_columns(left, right):
        assert isinstance(left, np.ndarray) and isinstance(right, np.ndarray)
        return np.asarray(float(np.vdot(left, right)))
    return multiply(left, right)


def _same_columns(left: Value, right: Value) -> bool:
    return (
        isinstance(left, np.ndarray)
        and isinstance(right, np.ndarray)
        and left.ndim == 2
        and left.shape == right.shape
        and left.shape[1] == 1
        and left.shape[0] > 1
    )


_JOINS: dict[str, Callable[[Value, Value], Value]] = {
    "juxt": _side_by_side,
    "mul": _dot,
    "div": divide,
}


def _fraction(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Fraction)
    return divide(_evaluate(node.numerator, scope), _evaluate(node.denominator, scope))


def _group(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Group)
    if len(node.items) != 1:
        raise EvaluationError("unsupported", "a list of several values")
    return _evaluate(node.items[0], scope)


def _norm(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Norm)
    return _norm_value(_evaluate(node.operand, scope), "")


def _norm_value(value: Value, which: str) -> Value:
    array = _array(value, "a function")
    if which in ("", "2", "F") and (which != "2" or 1 in array.shape):
        return np.asarray(np.linalg.norm(array))
    if which == "2":
        return np.asarray(np.linalg.norm(array, 2))
    raise EvaluationError("unsupported", f"the norm with subscript {which}")


def _bars(node: n.Node, scope: Scope) -> Value:
    """|X|: the determinant of a square matrix, else the absolute value."""
    assert isinstance(node, n.Bars)
    array = _array(_evaluate(node.operand, scope), "a function")
    if array.ndim == 2 and array.shape[0] == array.shape[1] and array.shape[0] > 1:
        return np.asarray(np.linalg.det(array))
    return np.asarray(np.abs(array))


def _root(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Root)
    return np.asarray(np.sqrt(_array(_evaluate(node.operand, scope), "a function")))


def _sum(node: n.Node, scope: Scope) -> Value:
    assert isinstance(node, n.Sum)
    low = 1 if node.low is None else _whole(_evaluate(node.low, scope), "the sum's start")
    high = _sum_end(node, scope)
    if high - low + 1 > MAX_SUM_TERMS:
        raise EvaluationError("unsupported", "a sum too long to evaluate")
    if high < low:
        raise EvaluationError("unsupported", "an empty sum")
    total: Value | None = None
    for position in range(low, high + 1):
        inner = replace(scope, indices={**scope.indices, node.index: position})
        term = _evaluate(node.body, inner)
        total = term if total is None else add(total, term)
    assert total is not None
    return total


def _sum_end(node: n.Sum, scope: Scope) -> int:
    """The written end, or (when it is not one of the problem's sizes, say N for m) the length
    of what the sum runs over."""
    if node.high is not None:
        try:
            return _whole(_evaluate(node.high, scope), "the sum's end")
        except EvaluationError as error:
            if error.failure != "unbound":
                raise
    length = _indexed_length(node.body, node.index, scope)
    if length is None:
        raise EvaluationError("unsupported", f"a sum over {node.index} without its end")
    return length


def _indexed_length(node: n.Node, index: str, scope: Scope) -> int | None:
    """How far `\\sum_i` runs: the length of the first x_i in its body."""
    base: n.Node | None = None
    if isinstance(node, n.Subscript) and _names(node.index, index):
        base = node.base  # x_i
    elif isinstance(node, n.Power) and _names(node.exponent, index):
        base = node.base  # x^{(i)}
    if isinstance(base, n.Symbol):
        name = base.name
        value = scope.values.get(scope.rows.get(name, name))
        if isinstance(value, np.ndarray) and value.ndim == 2:
            return int(value.shape[0] if name in scope.rows else value.size)
    for child in n.children(node):
        found = _indexed_length(child, index, scope)
        if found is not None:
            return found
    return None


def _names(node: n.Node, index: str) -> bool:
    if isinstance(node, n.Group) and len(node.items) == 1:
        return _names(node.items[0], index)
    return isinstance(node, n.Symbol) and node.name == index


def _whole(value: Value, what: str) -> int:
    array = _array(value, what)
    if array.size != 1 or not float(array.reshape(())).is_integer():
        raise EvaluationError("unsupported", f"{what} is not a whole number")
    return int(array.reshape(()))


def _dims(array: np.ndarray) -> str:
    if array.ndim == 0:
        return "1x1"
    return "x".join(str(size) for size in array.shape)


_HANDLERS: dict[type, Callable[[n.Node, Scope], Value]] = {
    n.Number: _number,
    n.Symbol: _symbol,
    n.Subscript: _subscript,
    n.Power: _power,
    n.Prime: _prime,
    n.Negate: _negate,
    n.Add: _add,
    n.Product: _product,
    n.Fraction: _fraction,
    n.Group: _group,
    n.Norm: _norm,
    n.Bars: _bars,
    n.Root: _root,
    n.Sum: _sum,
}


def _square(name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise EvaluationError("shapes", f"{name} of a {_dims(array)} array")
    return array


def _diag(array: np.ndarray) -> Value:
    if array.ndim == 2 and 1 in array.shape:
        return np.diag(array.reshape(-1))
    return np.diag(_square("diag", array)).reshape(-1, 1)


def _adjugate(array: np.ndarray) -> Value:
    square = _square("adj", array)
    return np.asarray(np.linalg.det(square) * np.linalg.inv(square))


def _softmax(array: np.ndarray) -> Value:
    shifted = np.exp(array - array.max())
    return np.asarray(shifted / shifted.sum())


def _entrywise(name: str, function: Callable[[np.ndarray], np.ndarray]) -> Function:
    return Function(name, lambda array: function(array))


BUILTINS: dict[str, Value] = {
    "I": Eye(),
    "E": Eye(),
    "\\mathbf{1}": Ones(),
    "e": np.asarray(np.e),
    "\\pi": np.asarray(np.pi),
    "det": Function("det", lambda a: np.asarray(np.linalg.det(_square("det", a)))),
    "tr": Function("tr", lambda a: np.asarray(np.trace(_square("tr", a)))),
    "diag": Function("diag", _diag),
    "adj": Function("adj", _adjugate),
    "inv": Function("inv", _inverse),
    "exp": _entrywise("exp", np.exp),
    "log": _entrywise("log", np.log),
    "sign": _entrywise("sign", np.sign),
    "\\sigma": _entrywise("sigma", lambda a: 1.0 / (1.0 + np.exp(-a))),
    "softmax": Function("softmax", _softmax),
}
for _alias, _name in {
    "Tr": "tr",
    "trace": "tr",
    "Diag": "diag",
    "ln": "log",
    "sigma": "\\sigma",
    "sigmoid": "\\sigma",
}.items():
    BUILTINS[_alias] = BUILTINS[_name]
