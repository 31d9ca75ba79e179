"""The parsed form of a written formula: plain data, built by the grammar and read by the
evaluator and the left-hand-side recogniser. Nothing here can run student text."""

from __future__ import annotations

from dataclasses import dataclass, fields

# How two neighbouring factors of a product are joined: written side by side (which is also how
# a function is applied to its argument), with an explicit product sign, entrywise, or divided.
JoinKind = str  # "juxt" | "mul" | "hadamard" | "div"


@dataclass(frozen=True)
class Node:
    """Where the node came from in the formula's text, for feedback that quotes a term."""

    start: int
    end: int


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class Symbol(Node):
    """A letter or a Greek letter (`\\lambda`), decorations such as `\\mathbf{}` dropped; a
    named operator (`\\det`, `\\operatorname{tr}`, `det`) is a Symbol too, looked up like one."""

    name: str
    decoration: str = ""  # "mathbf", "mathbb", ...: \mathbf{1} is the ones vector


@dataclass(frozen=True)
class Subscript(Node):
    base: Node
    index: Node


@dataclass(frozen=True)
class Power(Node):
    """`base^{exponent}`: a transpose, an inverse, or a power, decided when evaluated."""

    base: Node
    exponent: Node


@dataclass(frozen=True)
class Prime(Node):
    base: Node


@dataclass(frozen=True)
class Negate(Node):
    operand: Node


@dataclass(frozen=True)
class Add(Node):
    """Terms added in order; each term's sign is on the term (a Negate)."""

    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Product(Node):
    """Factors in order, each but the first with how it joins its left neighbour."""

    first: Node
    rest: tuple[tuple[JoinKind, Node], ...]


@dataclass(frozen=True)
class Fraction(Node):
    numerator: Node
    denominator: Node


@dataclass(frozen=True)
class Group(Node):
    """Parenthesised (or braced) and possibly several comma-separated items: f(U, V)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Norm(Node):
    operand: Node


@dataclass(frozen=True)
class Bars(Node):
    """|X|: a determinant or an absolute value, decided when evaluated."""

    operand: Node


@dataclass(frozen=True)
class Root(Node):
    operand: Node


@dataclass(frozen=True)
class Sum(Node):
    """`\\sum_{index=low}^{high} body`; the body runs to the end of the product it starts."""

    index: str
    low: Node | None
    high: Node | None
    body: Node


@dataclass(frozen=True)
class Nabla(Node):
    """`\\nabla` with its subscript (the variable) and order (2 for `\\nabla^2`)."""

    variable: Node | None
    order: int


@dataclass(frozen=True)
class Partial(Node):
    """`\\partial` (or an upright d) in a derivative's fraction, with its power."""

    order: int


def children(node: Node) -> list[Node]:
    """The nodes directly below `node`, in order (a product's factors without their joins)."""
    found: list[Node] = []
    for item in fields(node):
        value = getattr(node, item.name)
        for part in value if isinstance(value, tuple) else (value,):
            for leaf in part if isinstance(part, tuple) else (part,):
                if isinstance(leaf, Node):
                    found.append(leaf)
    return found
