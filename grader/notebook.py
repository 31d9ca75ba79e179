"""Notebook in, extracted source out: never executes anything.

Students leave `%timeit` loops, n=3000 experiments and `time.sleep` at top level; running the
notebook costs minutes and runs all of that. Instead each code cell is parsed with `ast`, and only
what defines the student's functions is kept: imports, function and class definitions, lambdas,
callables made by transformations (`jax.jit(f)`, `grad(J, argnums=0)`, `partial(...)`), aliases
of kept callables, and the literal constants those use.
"""

from __future__ import annotations

import ast
import errno
import hashlib
import json
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from grader.ast_lock import AST_LOCK
from grader.errors import InvalidNotebook
from grader.models import ExtractionNote

# Callables wrapping other callables; a top-level `name = <one of these>(...)` is kept.
TRANSFORMATIONS = frozenset(
    {
        "jit", "grad", "value_and_grad", "jacobian", "jacfwd", "jacrev", "hessian", "vmap",
        "pmap", "checkpoint", "remat", "custom_jvp", "custom_vjp", "partial", "vectorize",
        "wraps", "lru_cache", "cache", "named_call",
    }
)  # fmt: skip
# What a cell that does not parse seems to define, read line by line.
DEFINED = re.compile(
    r"^[ \t]*(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)|^([A-Za-z_]\w*)[ \t]*=[^=]", re.M
)
# Cell magics whose body is ordinary Python that may define functions.
PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


@dataclass(frozen=True)
class Chunk:
    """A kept top-level statement: executed on its own so one failure cannot hide the rest."""

    cell: int
    line: int
    source: str
    defines: tuple[str, ...]
    is_import: bool


@dataclass
class Extraction:
    chunks: list[Chunk] = field(default_factory=list)
    notes: list[ExtractionNote] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    dropped: int = 0
    # Names a cell that does not parse seems to define: (cell, line, error), for feedback that
    # says why a listed function was not found.
    unparsed: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    def why_missing(self, names: list[str]) -> str | None:
        """ "grad_v is defined in code cell 7, which has a syntax error at line 3: ...", or
        None when no listed name sits in a cell that does not parse."""
        found = next((name for name in names if name in self.unparsed), None)
        if found is None:
            return None
        cell, line, error = self.unparsed[found]
        return (
            f"{found} is defined in code cell {cell + 1}, which has a syntax error at line "
            f"{line} ({error}), so nothing in that cell could be graded"
        )

    def module_source(self) -> str:
        return "\n\n".join(chunk.source for chunk in self.chunks)


# Notebooks with every output and a few plots stay well under this; a larger file is refused
# before it is read, so a submission cannot make the grader buffer without bound.
MAX_NOTEBOOK_BYTES = 32 * 2**20


def read_submission(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of a submitted notebook: a regular file, opened without following a symbolic
    link (a student's link could point at the secret or a classmate's notebook) and checked on
    the opened file, so a pipe or device named `*.ipynb` can neither hang nor flood the grader.
    Errors describe the file, never quote it."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError as error:
        raise InvalidNotebook(f"file not found: {path}") from error
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InvalidNotebook("a symbolic link, not a notebook file: refused") from error
        raise InvalidNotebook(f"cannot be read: {error.strerror}") from error
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InvalidNotebook("not a regular file (a folder, pipe or device): refused")
    with os.fdopen(descriptor, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise InvalidNotebook(f"larger than the {limit // 2**20} MB a notebook may have: refused")
    return data


def submission_sha256(path: Path) -> str:
    """Of the submission's bytes as read for grading; empty when it cannot be read."""
    try:
        return hashlib.sha256(read_submission(path)).hexdigest()
    except InvalidNotebook:
        return ""


def parse_notebook(data: bytes) -> nbformat.NotebookNode:
    """A notebook from its bytes; errors say what is wrong in words, never quoting content."""
    try:
        text = data.decode("utf-8")
        json.loads(text)  # for an error that says where, not nbformat's that quotes the text
    except UnicodeDecodeError as error:
        raise InvalidNotebook("not a Jupyter notebook: the file is not UTF-8 text") from error
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise InvalidNotebook(f"not a Jupyter notebook: not valid JSON ({where})") from error
    except RecursionError as error:
        raise InvalidNotebook("not a Jupyter notebook: JSON nested too deeply") from error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's advice to notebook authors, not ours
            notebook: nbformat.NotebookNode = nbformat.reads(text, as_version=4)
        code_cells(notebook)
    except Exception as error:
        raise InvalidNotebook(
            "not a Jupyter notebook: valid JSON, but not laid out as a notebook (nbformat 4 "
            "expects an object with a list of cells)"
        ) from error
    return notebook


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return parse_notebook(read_submission(path))


def code_cells(notebook: nbformat.NotebookNode) -> list[str]:
    cells = notebook.get("cells", [])
    return [str(cell.get("source", "")) for cell in cells if cell.get("cell_type") == "code"]


def extract(cells: list[str]) -> Extraction:
    with AST_LOCK:
        return _extract(cells)


def _extract(cells: list[str]) -> Extraction:
    extraction = Extraction()
    parsed: list[tuple[int, str, ast.Module]] = []
    for index, raw in enumerate(cells):
        source = strip_magics(raw)
        try:
            parsed.append((index, source, ast.parse(source)))
        except SyntaxError as error:
            message = f"line {error.lineno}: {error.msg}; this cell was skipped"
            extraction.notes.append(
                ExtractionNote(cell=index, kind="syntax_error", message=message)
            )
            for match in DEFINED.finditer(source):
                name = match[1] or match[2]
                extraction.unparsed.setdefault(name, (index, error.lineno or 1, error.msg))
        except (RecursionError, MemoryError, ValueError) as error:
            message = f"the cell is too deeply nested to parse ({type(error).__name__}); skipped"
            extraction.notes.append(
                ExtractionNote(cell=index, kind="syntax_error", message=message)
            )
    kept_names: set[str] = set()
    statements = [(i, src, node) for i, src, module in parsed for node in module.body]
    kept = [(i, src, node) for i, src, node in statements if _keep(node, kept_names)]
    used = _names_used([node for _, _, node in kept])
    constants = [(i, src, n) for i, src, n in statements if _is_used_constant(n, used)]
    chosen = {id(node) for _, _, node in kept + constants}
    for index, source, node in statements:
        if id(node) in chosen:
            extraction.chunks.append(_chunk(index, source, node))
        else:
            extraction.dropped += 1
    extraction.candidates = _candidates([node for _, _, node in kept])
    return extraction


def strip_magics(source: str) -> str:
    """Rewrite IPython syntax (`%magic`, `!cmd`, `x?`) into plain Python calls to get_ipython()."""
    first, _, rest = source.lstrip().partition("\n")
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        source = rest if magic in PYTHON_BODY_CELL_MAGICS else ""
    try:
        return str(TransformerManager().transform_cell(source))
    except Exception:
        return source


def _keep(node: ast.stmt, kept_names: set[str]) -> bool:
    keep = _is_definition(node, kept_names)
    if keep:
        kept_names.update(_targets(node))
    return keep


def _is_definition(node: ast.stmt, kept_names: set[str]) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef):
        return True
    if isinstance(node, ast.ClassDef):
        return True
    if isinstance(node, ast.Try):
        return _harmless_try(node)
    value = _assigned_value(node)
    if value is None:
        return False
    if isinstance(value, ast.Lambda):
        return True
    if isinstance(value, ast.Name):
        return value.id in kept_names
    return isinstance(value, ast.Call) and _call_name(value.func) in TRANSFORMATIONS


def _harmless_try(node: ast.Try) -> bool:
    """`try: from jax.config import config / except ...: from jax import config` and the like."""
    blocks = [node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)]
    allowed = ast.Import | ast.ImportFrom | ast.Pass | ast.FunctionDef
    return all(isinstance(stmt, allowed) for block in blocks for stmt in block)


def _assigned_value(node: ast.stmt) -> ast.expr | None:
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        return node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.value
    return None


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    if isinstance(node, ast.Try):
        inner = [stmt for block in (node.body, *(h.body for h in node.handlers)) for stmt in block]
        return list(dict.fromkeys(name for stmt in inner for name in _targets(stmt)))
    return []


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _names_used(nodes: list[ast.stmt]) -> set[str]:
    return {
        sub.id
        for node in nodes
        for sub in ast.walk(node)
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)
    }


def _is_used_constant(node: ast.stmt, used: set[str]) -> bool:
    value = _assigned_value(node)
    names = _targets(node)
    try:
        return value is not None and bool(set(names) & used) and _is_literal(value)
    except RecursionError:
        return False


def _is_literal(node: ast.expr) -> bool:
    """Numbers, strings, tuples and arithmetic of them, and attribute constants like jnp.pi."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _is_literal(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left) and _is_literal(node.right)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_literal(element) for element in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_literal(k) for k in node.keys) and all(
            _is_literal(v) for v in node.values
        )
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.attr in {"pi", "e", "inf", "float64"}
    return False


def _candidates(nodes: list[ast.stmt]) -> list[str]:
    """Names of callables the student defined, in notebook order, last definition kept."""
    names: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom | ast.ClassDef | ast.Try):
            continue
        for name in _targets(node):
            if name in names:
                names.remove(name)
            names.append(name)
    return names


def _chunk(cell: int, source: str, node: ast.stmt) -> Chunk:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    last = node.end_lineno or node.lineno
    lines = source.splitlines()[first - 1 : last]
    text = "\n".join(lines)
    if not _owns_lines(text, node):
        text = ast.unparse(node)
    is_import = isinstance(node, ast.Import | ast.ImportFrom | ast.Try)
    return Chunk(cell, first, text, tuple(_targets(node)), is_import)


def _owns_lines(text: str, node: ast.stmt) -> bool:
    """True unless another statement shares the node's lines (`n = 5; run_experiment()`)."""
    try:
        return len(ast.parse(text).body) == 1 and node.col_offset == 0
    except SyntaxError:
        return False
