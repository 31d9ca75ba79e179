"""Finds answers that call autodiff instead of implementing the derived formula.

Pure `ast` over the extracted source: starting from the function that answers a problem, every
name it uses is resolved through the notebook's imports and aliases (`from jax import grad as g`,
`import jax as j`, `dJ = jax.grad(J)`), and every function of the notebook it reaches is followed
the same way. A reference to a differentiation transform anywhere on that path is reported.
Static analysis cannot see through `getattr(jax, "gr" + "ad")` or `exec`: the worker notices
differentiation as it runs (grader.worker.autodiff_watch); this check gives the cell and line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader.ast_lock import AST_LOCK
from grader.notebook import Chunk

FORBIDDEN = frozenset(
    {
        "jax.grad", "jax.value_and_grad", "jax.jacobian", "jax.jacfwd", "jax.jacrev",
        "jax.hessian", "jax.vjp", "jax.jvp", "jax.linearize", "jax.linear_transpose",
        "jax.api.grad", "torch.autograd.grad", "torch.autograd.functional",
        "torch.Tensor.backward",
    }
)  # fmt: skip
JAX_TRANSFORMS = frozenset(
    {
        "grad", "value_and_grad", "jacobian", "jacfwd", "jacrev", "hessian", "vjp", "jvp",
        "linearize", "linear_transpose", "fwd_and_bwd",
    }
)  # fmt: skip
FORBIDDEN_PREFIXES = ("torch.autograd.", "torch.func.", "functorch.", "jax.experimental.jet")


@dataclass(frozen=True)
class AutodiffUse:
    call: str
    function: str
    cell: int
    line: int

    def describe(self) -> str:
        return f"{self.call} (code cell {self.cell + 1}, line {self.line}, in {self.function})"


class _Module:
    """The notebook's top level: imported names and the nodes that define each name."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self.imports: dict[str, str] = {}
        self.definitions: dict[str, tuple[ast.AST, Chunk]] = {}
        for chunk in chunks:
            for node in ast.parse(chunk.source).body:
                self._record(node, chunk)

    def _record(self, node: ast.stmt, chunk: Chunk | None) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                self.imports[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Try):
            for inner in [*node.body, *(s for h in node.handlers for s in h.body)]:
                self._record(inner, chunk)
        elif chunk is None:
            return
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.definitions[node.name] = (node, chunk)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.definitions[target.id] = (node.value, chunk)

    def qualified(self, node: ast.expr, scope: _Scope) -> str | None:
        """`a.b.c` with `a` resolved through the imports; iterative, as a student's attribute
        chain can be thousands deep."""
        attributes: list[str] = []
        while isinstance(node, ast.Attribute):
            attributes.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        if node.id in scope.imports:
            base: str | None = scope.imports[node.id]
        else:
            base = None if node.id in scope.local else self.imports.get(node.id)
        return ".".join([base, *reversed(attributes)]) if base else None


@dataclass(frozen=True)
class _Scope:
    """Names a definition binds itself: its own imports, and locals that shadow globals."""

    imports: dict[str, str]
    local: frozenset[str]

    @classmethod
    def of(cls, node: ast.AST) -> _Scope:
        inner = _Module([])
        local: set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import | ast.ImportFrom):
                inner._record(sub, None)
            elif isinstance(sub, ast.arg):
                local.add(sub.arg)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                local.add(sub.id)
        return cls(inner.imports, frozenset(local))


def find_autodiff(chunks: list[Chunk], function: str) -> AutodiffUse | None:
    """The first differentiation transform reachable from `function`, or None. Code nested
    too deeply for Python's recursion to walk is not read: the worker's runtime check still
    sees what it runs."""
    with AST_LOCK:
        try:
            return _find(chunks, function)
        except RecursionError:
            return None


def _find(chunks: list[Chunk], function: str) -> AutodiffUse | None:
    module = _Module(chunks)
    pending, seen = [function], set()
    while pending:
        name = pending.pop()
        if name in seen or name not in module.definitions:
            continue
        seen.add(name)
        node, chunk = module.definitions[name]
        scope = _Scope.of(node)
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Name | ast.Attribute):
                continue
            qualified = module.qualified(sub, scope)
            if qualified and _forbidden(qualified):
                line = chunk.line + getattr(sub, "lineno", 1) - 1
                return AutodiffUse(qualified, name, chunk.cell, line)
            if isinstance(sub, ast.Name) and sub.id not in scope.local:
                pending.append(sub.id)
    return None


def _forbidden(qualified: str) -> bool:
    """A listed transform, or one of JAX's transforms by its last name under any JAX path
    (`jax._src.api.grad`, `jax.experimental.sparse.grad`)."""
    if qualified in FORBIDDEN or qualified.startswith(FORBIDDEN_PREFIXES):
        return True
    return qualified.startswith("jax.") and qualified.rsplit(".", 1)[-1] in JAX_TRANSFORMS
