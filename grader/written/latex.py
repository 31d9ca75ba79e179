"""A grammar for the LaTeX that matrix-calculus answers are written in, parsed with lark (LALR)
into `nodes`: products written side by side, fractions, transposes and inverses, named
operators, norms and sums over an index. Student text is only ever parsed, never evaluated as
code; anything outside the grammar is a `FormulaError` that says where it stopped.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import lark

from grader.errors import MatgradeError
from grader.written import nodes as n

# Operators written as plain letters in the notebooks we have seen ("det(X)", "tr(X)"): a run of
# letters that is exactly one of these names is the operator, anything else is single letters.
PLAIN_OPERATORS = (
    "softmax|sigmoid|trace|diag|Diag|sign|adj|det|exp|log|inv|tr|Tr|ln"  # longest first
)
GREEK = (
    "varepsilon|vartheta|varphi|epsilon|upsilon|lambda|Lambda|alpha|gamma|Gamma|delta|Delta|"
    "theta|Theta|kappa|sigma|Sigma|omega|Omega|beta|zeta|iota|Phi|phi|Psi|psi|chi|rho|tau|eta|"
    "mu|nu|xi|Xi|pi|Pi"
)

# Typefaces around a symbol are dropped (\mathbf{x} is x, \mathbf{1} the ones vector);
# accents make another symbol (\hat{Y} is not Y).
DECORATIONS = "mathbf|bm|boldsymbol|mathbb|vec|mathit|bf|hat|tilde|bar|overline|mathcal"
ACCENTS = frozenset({"hat", "tilde", "bar", "overline", "mathcal"})

GRAMMAR = rf"""
?start: expr

?expr: term
     | expr "+" term            -> add
     | expr "-" term            -> sub

?term: product
     | "-" term                 -> neg
     | "+" term

product: factor (join? factor)*
join: MUL | HADAMARD | SLASH

?factor: postfix
       | SUM limits product     -> sum

limits:                                   -> no_limits
      | "_" sum_index                     -> lower
      | "^" sup                           -> upper
      | "_" sum_index "^" sup             -> both
      | "^" sup "_" sum_index             -> both_swapped
sum_index: LETTER                         -> index_only
         | "{{" LETTER "}}"               -> index_only
         | "{{" LETTER "=" expr "}}"      -> index_from

?postfix: atom
        | postfix "^" sup       -> power
        | postfix "_" sub       -> subscript
        | postfix PRIME         -> prime

?sup: LETTER                    -> letter
    | GREEK_LETTER              -> greek
    | TOP                       -> top
    | "{{" expr "}}"
    | named
    | decorated

?sub: LETTER                    -> letter
    | GREEK_LETTER              -> greek
    | "{{" expr ("," expr)* "}}" -> group

?atom: NUMBER                   -> number
     | LETTER                   -> letter
     | GREEK_LETTER             -> greek
     | PLAIN_OPERATOR           -> operator
     | COMMAND_OPERATOR         -> command_operator
     | TOP                      -> top
     | NABLA                    -> nabla
     | PARTIAL                  -> partial
     | "(" expr ("," expr)* ")" -> group
     | "[" expr "]"             -> group
     | "\\{{" expr "\\}}"       -> group
     | "{{" expr "}}"           -> group
     | FRAC frac_part frac_part -> fraction
     | SQRT "{{" expr "}}"      -> root
     | NORM_OPEN expr NORM_CLOSE -> norm
     | BARS_OPEN expr BARS_CLOSE -> bars
     | named
     | decorated

?frac_part: LETTER              -> letter
          | "{{" expr "}}"

named: NAMED_OPERATOR "{{" WORD "}}"
decorated: DECORATION "{{" expr "}}"
         | DECORATION LETTER

NUMBER: /\d+(\.\d*)?|\.\d+/
LETTER: /[A-Za-z]/
WORD: /[A-Za-z]+/
PLAIN_OPERATOR.2: /(?<![A-Za-z])({PLAIN_OPERATORS})(?![A-Za-z])/
GREEK_LETTER: /\\({GREEK})(?![A-Za-z])/
COMMAND_OPERATOR: /\\(det|exp|log|ln|tr|Tr|sigma|diag)(?![A-Za-z])/
NAMED_OPERATOR: /\\(operatorname|text|textrm|mathrm|rm|textit|mathsf)(?![A-Za-z])/
DECORATION: /\\({DECORATIONS})(?![A-Za-z])/
TOP: /\\(top|intercal|mathsf\{{T\}})(?![A-Za-z])/
NABLA: /\\nabla(?![A-Za-z])/
PARTIAL: /\\partial(?![A-Za-z])/
SUM: /\\sum(?![A-Za-z])/
FRAC: /\\[dt]?frac(?![A-Za-z])/
SQRT: /\\sqrt(?![A-Za-z])/
NORM_OPEN: "\u27e6"
NORM_CLOSE: "\u27e7"
BARS_OPEN: "\u2985"
BARS_CLOSE: "\u2986"
MUL: /\\cdot(?![A-Za-z])|\\times(?![A-Za-z])|\\ast(?![A-Za-z])|\*/
HADAMARD: /\\odot(?![A-Za-z])|\\circ(?![A-Za-z])/
SLASH: "/"
PRIME: /'|\\prime(?![A-Za-z])/

SPACING: /\\[,;:! ]|~|&|\\(quad|qquad|displaystyle|limits|left|right|middle)(?![A-Za-z])/
SIZING: /\\[Bb]igg?[lr]?(?![A-Za-z])/
%import common.WS
%ignore WS
%ignore SPACING
%ignore SIZING
"""


class FormulaError(MatgradeError):
    """A formula outside what matgrade reads (the reason is shown as "not checked: ...")."""


@functools.cache
def _parser() -> lark.Lark:
    # lark reports (at debug level) shift/reduce conflicts on every token that can start a
    # factor after a sum's body: resolved as shift, a sum runs to the end of its product, as
    # \sum_i y_i x_i + w is read by hand.
    return lark.Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


MAX_FORMULA_CHARS = 2000


@dataclass(frozen=True)
class Formula:
    """A parsed formula and the (normalised) text its nodes' spans index."""

    text: str
    tree: n.Node

    def quote(self, node: n.Node) -> str:
        return " ".join(self.text[node.start : node.end].split())


@functools.lru_cache(maxsize=4096)
def parse_formula(text: str) -> Formula:
    """The formula's tree; FormulaError names what could not be read, never quoting more than a
    few characters of it."""
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(f"longer than {MAX_FORMULA_CHARS} characters")
    text = normalise(text)
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as error:
        raise FormulaError(_where(text, error)) from None
    except RecursionError:
        raise FormulaError("nested too deeply") from None
    try:
        node: n.Node = _Build(text).transform(tree)
    except lark.exceptions.VisitError as error:
        if isinstance(error.orig_exc, FormulaError):
            raise error.orig_exc from None
        raise FormulaError("cannot be read") from None
    except RecursionError:
        raise FormulaError("nested too deeply") from None
    return Formula(text, node)


# TeX takes one character after ^, _ and \frac when there are no braces: x^23 is x^2 times 3.
_ONE_CHARACTER = re.compile(r"(\^|_)\s*(\d)")
_FRAC_DIGITS = re.compile(r"(\\[dt]?frac)\s*(\d)\s*(\d)")
_BAR = re.compile(r"\\?\|(?!\|)|\\[lr]?vert(?![A-Za-z])")
_NORM_BAR = re.compile(r"\\\||\|\||\\[lr]?Vert(?![A-Za-z])")


def normalise(text: str) -> str:
    """Braces where TeX implies them, and norm bars paired left to right (an opening and a
    closing bar are the same characters, which a grammar cannot tell apart)."""
    text = _FRAC_DIGITS.sub(r"\1{\2}{\3}", text)
    text = _ONE_CHARACTER.sub(r"\1{\2}", text)
    norms = iter(range(10**6))
    text = _NORM_BAR.sub(lambda _: " \u27e6 " if next(norms) % 2 == 0 else " \u27e7 ", text)
    bars = iter(range(10**6))
    return _BAR.sub(lambda _: "\u2985" if next(bars) % 2 == 0 else "\u2986", text)


def _where(text: str, error: lark.exceptions.UnexpectedInput) -> str:
    token = getattr(error, "token", None)
    if isinstance(token, lark.Token) and token.type == "$END":
        return "ends too early"
    position = getattr(error, "pos_in_stream", None)
    if position is None:
        return "cannot be read"
    if position >= len(text):
        return "ends too early"
    found = (text[position : position + 12].split() or [""])[0]
    return f"cannot read {found!r} (character {position + 1})"


def _small_order(exponent: n.Node) -> int:
    """The order of \\nabla^2 or \\partial^2 (0 when the exponent is not 1 to 4)."""
    if isinstance(exponent, n.Number) and exponent.value in (1, 2, 3, 4):
        return int(exponent.value)
    return 0


def _span(meta: Any) -> tuple[int, int]:
    if getattr(meta, "empty", True):
        return (0, 0)
    return (meta.start_pos, meta.end_pos)


def _token_span(token: lark.Token) -> tuple[int, int]:
    start = token.start_pos or 0
    return (start, token.end_pos or start)


@lark.v_args(meta=True, inline=True)
class _Build(lark.Transformer[lark.Token, n.Node]):
    """lark's tree to `nodes`, each with its span in the formula's text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def add(self, meta: Any, left: n.Node, right: n.Node) -> n.Node:
        terms = left.terms if isinstance(left, n.Add) else (left,)
        return n.Add(*_span(meta), terms=(*terms, right))

    def sub(self, meta: Any, left: n.Node, right: n.Node) -> n.Node:
        negated = n.Negate(right.start, right.end, right)
        return self.add(meta, left, negated)

    def neg(self, meta: Any, operand: n.Node) -> n.Node:
        return n.Negate(*_span(meta), operand=operand)

    def product(self, meta: Any, *children: Any) -> n.Node:
        first, *rest = children
        joined: list[tuple[str, n.Node]] = []
        how = "juxt"
        for child in rest:
            if isinstance(child, str):
                how = child
                continue
            joined.append((how, child))
            how = "juxt"
        if not joined:
            return first  # type: ignore[no-any-return]
        return n.Product(*_span(meta), first=first, rest=tuple(joined))

    def join(self, meta: Any, token: lark.Token) -> str:
        return {"MUL": "mul", "HADAMARD": "hadamard", "SLASH": "div"}[token.type]

    def sum(self, meta: Any, _token: lark.Token, limits: tuple[Any, ...], body: n.Node) -> n.Node:
        index, low, high = limits
        if index is None:
            raise FormulaError("a sum without its index (write \\sum_{i=1}^{m})")
        return n.Sum(*_span(meta), index=index, low=low, high=high, body=body)

    def no_limits(self, meta: Any) -> tuple[Any, ...]:
        return (None, None, None)

    def lower(self, meta: Any, index: tuple[str, Any]) -> tuple[Any, ...]:
        return (*index, None)

    def upper(self, meta: Any, high: n.Node) -> tuple[Any, ...]:
        return (None, None, high)

    def both(self, meta: Any, index: tuple[str, Any], high: n.Node) -> tuple[Any, ...]:
        return (*index, high)

    def both_swapped(self, meta: Any, high: n.Node, index: tuple[str, Any]) -> tuple[Any, ...]:
        return (*index, high)

    def index_only(self, meta: Any, letter: lark.Token) -> tuple[str, Any]:
        return (str(letter), None)

    def index_from(self, meta: Any, letter: lark.Token, low: n.Node) -> tuple[str, Any]:
        return (str(letter), low)

    def power(self, meta: Any, base: n.Node, exponent: n.Node) -> n.Node:
        order = _small_order(exponent)
        if isinstance(base, n.Nabla) and order:
            return n.Nabla(*_span(meta), variable=base.variable, order=order)
        if isinstance(base, n.Partial) and order:
            return n.Partial(*_span(meta), order=order)
        return n.Power(*_span(meta), base=base, exponent=exponent)

    def subscript(self, meta: Any, base: n.Node, index: n.Node) -> n.Node:
        if isinstance(base, n.Nabla):
            return n.Nabla(*_span(meta), variable=index, order=base.order)
        return n.Subscript(*_span(meta), base=base, index=index)

    def prime(self, meta: Any, base: n.Node, _token: lark.Token) -> n.Node:
        return n.Prime(*_span(meta), base=base)

    def number(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Number(*_token_span(token), value=float(token))

    def letter(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Symbol(*_token_span(token), name=str(token))

    def greek(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Symbol(*_token_span(token), name=str(token))

    def operator(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Symbol(*_token_span(token), name=str(token))

    def command_operator(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Symbol(*_token_span(token), name=str(token)[1:])

    def top(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Symbol(*_token_span(token), name="\\top")

    def nabla(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Nabla(*_token_span(token), variable=None, order=1)

    def partial(self, meta: Any, token: lark.Token) -> n.Node:
        return n.Partial(*_token_span(token), order=1)

    def group(self, meta: Any, *items: n.Node) -> n.Node:
        return n.Group(*_span(meta), items=items)

    def fraction(self, meta: Any, _token: lark.Token, top: n.Node, bottom: n.Node) -> n.Node:
        return n.Fraction(*_span(meta), numerator=top, denominator=bottom)

    def root(self, meta: Any, _token: lark.Token, operand: n.Node) -> n.Node:
        return n.Root(*_span(meta), operand=operand)

    def norm(self, meta: Any, _open: lark.Token, operand: n.Node, _close: lark.Token) -> n.Node:
        return n.Norm(*_span(meta), operand=operand)

    def bars(self, meta: Any, _open: lark.Token, operand: n.Node, _close: lark.Token) -> n.Node:
        return n.Bars(*_span(meta), operand=operand)

    def named(self, meta: Any, _command: lark.Token, word: lark.Token) -> n.Node:
        return n.Symbol(*_span(meta), name=str(word))

    def decorated(self, meta: Any, command: lark.Token, inner: Any) -> n.Node:
        if isinstance(inner, lark.Token):
            inner = n.Symbol(*_token_span(inner), name=str(inner))
        decoration = str(command)[1:]
        if isinstance(inner, n.Symbol) and decoration in ACCENTS:
            return n.Symbol(*_span(meta), name=f"\\{decoration}{{{inner.name}}}")
        if isinstance(inner, n.Symbol):
            return n.Symbol(*_span(meta), name=inner.name, decoration=decoration)
        if isinstance(inner, n.Number) and inner.value == 1:
            return n.Symbol(*_span(meta), name="1", decoration=decoration)
        return inner  # type: ignore[no-any-return]
