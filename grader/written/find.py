"""Find each problem's written answer in a notebook's Markdown.

Equations are read out of the math (`$...$`, `$$...$$`, `\\[...\\]`, equation and align
environments) of the Markdown cells around the problem's function, split into statements at
commas, arrows and words, and each statement into its sides at `=`. The answer is, in order:
the last `\\boxed{}` statement; else the last statement whose left-hand side names the
problem's derivative (`\\nabla_U J`, `\\frac{\\partial J}{\\partial U}`, ...), read from its
rightmost side, then a formula written on its own after it; else (when the function's cell
answers no other problem) the last formula on its own before the function.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from grader.written import nodes as n
from grader.written.evaluate import Definition
from grader.written.latex import FormulaError, parse_formula
from grader.written.nodes import children
from grader.written.target import DIFFERENTIALS, Claim, Target, claim_of, claims_target

# Where math starts; each kind's end is found by a plain search, so a cell of unclosed
# delimiters costs one pass, not one pass per delimiter.
MATH_OPENING = re.compile(
    r"\$\$|\\\[|\\begin\{(?P<env>equation|align|gather|multline|eqnarray)(?P<star>\*?)\}"
    r"|(?<![\\$])\$"
)
MAX_MATH_CHARS = 50_000  # per notebook: ~15 times the seed's, and parsed in about a second
BOX_OPEN, BOX_CLOSE = "\u2983", "\u2984"
SEPARATOR_COMMANDS = (
    "Rightarrow", "Longrightarrow", "implies", "rightarrow", "longrightarrow", "to", "iff",
    "Leftrightarrow", "therefore", "because", "quad", "qquad", "newline", "hence", "text",
    "textrm", "mbox", "textbf", "textit", "where", "and", "forall", "in", "le", "leq", "ge",
    "geq", "neq", "approx", "sim", "ldots", "dots", "cdots", "label", "tag",
)  # fmt: skip
OPERATOR_WORDS = frozenset(
    [
        "adj",
        "tr",
        "Tr",
        "diag",
        "Diag",
        "det",
        "trace",
        "exp",
        "log",
        "ln",
        "sigmoid",
        "softmax",
        "sign",
        "inv",
    ]
)
MAX_STATEMENTS = 2000


@dataclass(frozen=True)
class Statement:
    """One equation (or formula on its own) as written: its sides split at `=`."""

    cell: int
    sides: tuple[str, ...]
    boxed: bool

    @property
    def text(self) -> str:
        return " = ".join(self.sides)


@dataclass(frozen=True)
class Candidate:
    """A formula that may be the answer: the statement it is a side of, and that side."""

    statement: Statement
    formula: str
    claimed: bool  # its left-hand side names the problem's derivative


@dataclass(frozen=True)
class Located:
    """Where to look for one problem's answer, best first, and what the student defined."""

    candidates: tuple[Candidate, ...]
    definitions: Mapping[str, Definition]
    # When one cell answers several problems written alike (\nabla f(X) twice, for parts a and
    # b), the other claimed formulas near it: one of them that agrees is this problem's answer.
    alternatives: tuple[Candidate, ...] = ()


def markdown_statements(cells: Sequence[tuple[int, str]]) -> list[Statement]:
    """Every statement in the math of these (cell index, Markdown source) pairs, in order."""
    statements: list[Statement] = []
    budget = MAX_MATH_CHARS
    for cell, source in cells:
        for math in math_segments(source):
            budget -= len(math)
            if budget < 0:
                return statements
            statements.extend(_statements(cell, math))
            if len(statements) >= MAX_STATEMENTS:
                return statements[:MAX_STATEMENTS]
    return statements


def math_segments(source: str) -> Iterator[str]:
    """The math of one Markdown cell: `$...$`, `$$...$$`, `\\[...\\]` and equation-like
    environments, in order; `\\$` is a dollar sign."""
    position, unclosed = 0, set()
    while (opening := MATH_OPENING.search(source, position)) is not None:
        closing = _closing_of(opening)
        end = -1 if closing in unclosed else _find_closing(source, opening.end(), closing)
        if end < 0:
            unclosed.add(closing)  # none later either: later openings of this kind are text
            position = opening.end()
            continue
        if end > opening.end():
            yield source[opening.end() : end]
        position = end + len(closing)


def _closing_of(opening: re.Match[str]) -> str:
    if opening.group("env"):
        return f"\\end{{{opening.group('env')}{opening.group('star')}}}"
    return {"$$": "$$", "\\[": "\\]"}.get(opening.group(0), "$")


def _find_closing(source: str, start: int, closing: str) -> int:
    end = source.find(closing, start)
    while closing == "$" and end > 0 and source[end - 1] == "\\":
        end = source.find(closing, end + 1)
    return end


# A line break before `=`, `+` or `-` continues the equation (align's `&= ...` lines), also
# with a spacing (`\\[2pt]`), `\nonumber` or `\quad` between. One way to match each space.
_CONTINUED = re.compile(
    r"\\\\(?:\[[^\]\n]{0,20}\])?(?:\s|\\nonumber|\\notag|&|\\q?quad(?![A-Za-z]))*(?=[=+\-])"
)


def _statements(cell: int, math: str) -> Iterator[Statement]:
    for piece in _split(_mark_boxes(_CONTINUED.sub(" ", math))):
        boxed = BOX_OPEN in piece
        clean = piece.replace(BOX_OPEN, " ").replace(BOX_CLOSE, " ").replace("&", " ").strip(" .:")
        sides = tuple(side.strip() for side in _top_level_split(clean, "="))
        if all(sides):
            yield Statement(cell, sides, boxed)


def _mark_boxes(math: str) -> str:
    """\\boxed{X} becomes X between two marker characters, so that the statements it holds
    are known after splitting."""
    out, position = [], 0
    for match in re.finditer(r"\\boxed\s*\{", math):
        if match.start() < position:
            continue
        close = _closing_brace(math, match.end())
        if close is None:
            break
        out += [math[position : match.start()], BOX_OPEN, math[match.end() : close], BOX_CLOSE]
        position = close + 1
    out.append(math[position:])
    return "".join(out)


def _closing_brace(text: str, start: int) -> int | None:
    depth = 1
    for position in range(start, len(text)):
        if text[position] == "{" and text[position - 1] != "\\":
            depth += 1
        elif text[position] == "}" and text[position - 1] != "\\":
            depth -= 1
            if depth == 0:
                return position
    return None


_SEPARATOR = re.compile(
    r"\\(?:" + "|".join(SEPARATOR_COMMANDS) + r")(?![A-Za-z])(?:\s*\{(?P<words>[^{}]*)\})?"
    r"|\\(?:begin|end)\s*\{[A-Za-z*]+\}|\\\\|→|⇒|⟹|;|,|<|>"
)


_ESCAPED = frozenset(",;:! {}|")


def _split(math: str) -> list[str]:
    """Pieces of `math` between separators at the top level (outside any brackets):
    `\\frac{d}{dX} tr(X) = I, so \\nabla f(X) = I` is two statements. \\text{adj} stays."""
    pieces, start, depth, position = [], 0, 0, 0
    while position < len(math):
        char = math[position]
        if char == "\\" and math[position + 1 : position + 2] in _ESCAPED:
            position += 2  # \, and \; are spaces, \{ a brace: not separators or brackets
            continue
        if char in "{([" and math[position - 1 : position] != "\\":
            depth += 1
        elif char in "})]" and math[position - 1 : position] != "\\":
            depth = max(depth - 1, 0)
        if depth == 0:
            match = _SEPARATOR.match(math, position)
            if match and not _is_operator_text(match, math):
                pieces.append(math[start:position])
                start = position = match.end()
                continue
        position += 1
    pieces.append(math[start:])
    return [piece for piece in pieces if piece.strip()]


def _is_operator_text(match: re.Match[str], math: str) -> bool:
    """\\text{adj}, \\text{T} or V^\\text{T}: part of the formula, not words between two."""
    words = match.group("words")
    if words is None:
        return False
    before = math[: match.start()].rstrip()[-1:]
    return words.strip() in OPERATOR_WORDS or len(words.strip()) <= 2 or before in ("^", "_")


def _top_level_split(text: str, separator: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if char in "{([":
            depth += 1
        elif char in "})]":
            depth = max(depth - 1, 0)
        elif char == separator and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return parts


def locate(
    statements: Sequence[Statement],
    target: Target,
    anchor: int | None,
    others: Sequence[int],
) -> Located:
    """The candidates for one problem's answer. `anchor` is the cell of the problem's graded
    function (None when there is none: then only statements that name the derivative and its
    variable count, anywhere); `others` the cells of the other problems' functions."""
    if anchor is None:
        return _unanchored(statements, target)
    before = max((cell for cell in others if cell < anchor), default=-1)
    after = min((cell for cell in others if cell > anchor), default=10**9)
    region = [s for s in statements if before < s.cell < after]
    shared = anchor in others
    kinds = [_kind(statement, target, anchored=True) for statement in region]
    boxed = [
        s for s, kind in zip(region, kinds, strict=True) if s.boxed and kind in ("claimed", "lone")
    ]
    definitions = _definitions(region, target)
    chosen = _nearest(boxed, anchor)
    if chosen is not None:
        return Located(tuple(_sides(chosen, claimed=True)), definitions)
    claimed = [s for s, kind in zip(region, kinds, strict=True) if kind == "claimed"]
    final = _nearest(claimed, anchor)
    lone = [s for s, kind in zip(region, kinds, strict=True) if kind == "lone" and s.cell < anchor]
    if final is not None:
        later = [s for s in lone if region.index(s) > region.index(final)]
        candidates = [*_sides(final, claimed=True), *_lone_candidates(later, shared)]
    else:
        candidates = _lone_candidates(lone, shared)
    alternatives = [c for s in reversed(claimed) if s is not final for c in _sides(s, True)]
    return Located(tuple(candidates), definitions, tuple(alternatives) if shared else ())


def _nearest(statements: Sequence[Statement], anchor: int) -> Statement | None:
    """The last statement before the function's cell, else the first after it."""
    before = [s for s in statements if s.cell < anchor]
    if before:
        return before[-1]
    return statements[0] if statements else None


def _unanchored(statements: Sequence[Statement], target: Target) -> Located:
    claimed = [s for s in statements if _kind(s, target, anchored=False) == "claimed"]
    boxed = [s for s in claimed if s.boxed]
    chosen = boxed[-1:] or claimed[-1:]
    candidates = [candidate for s in chosen for candidate in _sides(s, claimed=True)]
    return Located(tuple(candidates), _definitions(statements, target))


def _lone_candidates(lone: Sequence[Statement], shared: bool) -> list[Candidate]:
    if shared:  # one cell answers several problems: a formula on its own could be any of them
        return []
    return [Candidate(s, s.sides[0], claimed=False) for s in reversed(lone)]


def _sides(statement: Statement, claimed: bool) -> list[Candidate]:
    sides = statement.sides[1:] if len(statement.sides) > 1 else statement.sides
    return [Candidate(statement, side, claimed) for side in reversed(sides)]


def _kind(statement: Statement, target: Target, anchored: bool) -> str:
    """ "claimed" (its left-hand side names this problem's derivative), "other" (another
    derivative), "lone" (a formula on its own that could be an answer) or "prose"."""
    if len(statement.sides) == 1:
        return "lone" if _could_be_an_answer(statement.sides[0]) else "prose"
    claim = _claim(statement.sides[0], target)
    if claim is None:
        return "prose"
    return "claimed" if claims_target(claim, target, anchored) else "other"


def _claim(text: str, target: Target) -> Claim | None:
    try:
        return claim_of(parse_formula(text).tree, target)
    except FormulaError:
        return None


def _could_be_an_answer(text: str) -> bool:
    """A formula on its own that does something: not a lone symbol or number, and not a
    derivative that is still to be worked out."""
    try:
        tree = parse_formula(text).tree
    except FormulaError:
        return False
    if isinstance(tree, n.Symbol | n.Number | n.Subscript):
        return False
    return not _mentions(tree, (n.Nabla, n.Partial)) and not _has_differential(tree)


def _has_differential(node: n.Node) -> bool:
    """A d/dx written as a fraction: \\frac{df_x}{dw_y} is a derivative, not a value."""
    if isinstance(node, n.Fraction):
        bottom = node.denominator
        first = bottom.first if isinstance(bottom, n.Product) else bottom
        if isinstance(first, n.Symbol) and first.name in DIFFERENTIALS:
            return True
    return any(_has_differential(child) for child in children(node))


def _mentions(node: n.Node, kinds: tuple[type, ...]) -> bool:
    return isinstance(node, kinds) or any(_mentions(child, kinds) for child in children(node))


def _definitions(region: Sequence[Statement], target: Target) -> dict[str, Definition]:
    """`s = \\sigma(Xw)` or `p_i = ...`: a new letter the student defined, later ones winning."""
    found: dict[str, Definition] = {}
    for statement in region:
        if len(statement.sides) != 2:
            continue
        name, index = _defined_name(statement.sides[0], target)
        if name is None:
            continue
        try:
            found[name] = Definition(index, parse_formula(statement.sides[1]).tree)
        except FormulaError:
            continue
    return found


def _defined_name(text: str, target: Target) -> tuple[str | None, str | None]:
    try:
        tree = parse_formula(text).tree
    except FormulaError:
        return None, None
    if isinstance(tree, n.Symbol) and tree.name not in target.arguments:
        return tree.name, None
    if (
        isinstance(tree, n.Subscript)
        and isinstance(tree.base, n.Symbol)
        and isinstance(tree.index, n.Symbol)
        and tree.base.name not in target.arguments
    ):
        return tree.base.name, tree.index.name
    return None, None
