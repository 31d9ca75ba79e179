"""Notices differentiation by what runs, whatever name it was reached through.

Every JAX differentiation transform builds one of a few traces: JVPTrace (forward mode, `jvp`,
`jacfwd`), LinearizeTrace (reverse mode and `linearize`: `grad`, `vjp`, `jacrev`, `hessian`)
or JetTrace (Taylor mode). A hook on trace creation counts them, so an answer that reached
`jax.grad` through an alias, `getattr`, `exec`, a private path or a decoy is seen as it runs.
The backward pass alone is not counted: `jnp.linalg.solve` and `inv` transpose a linear map when
traced, and transposing a linear map is no derivative (`jax.linear_transpose` is left to the
static check). `lax.custom_root` linearizes its function when traced, so it counts.

While the notebook's definitions load, differentiation fails outright: no definition needs it,
and it would let a student compile autodiff before anything watches.

The hook lives in the student's process, so code written to find and undo it is not stopped
here; docs/security.md says what remains.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

AUTODIFF_TRACES = frozenset({"JVPTrace", "LinearizeTrace", "JetTrace"})


class AutodiffWhileLoading(RuntimeError):
    """Differentiation ran while the notebook's definitions loaded."""


class AutodiffWatch:
    def __init__(self) -> None:
        self.count = 0
        self._loading = False

    def install(self) -> None:
        from jax._src import core

        trace_init = core.Trace.__init__

        def init(trace: Any, *args: Any, **kwargs: Any) -> None:
            if type(trace).__name__ in AUTODIFF_TRACES:
                self._saw()
            trace_init(trace, *args, **kwargs)  # type: ignore[no-untyped-call]

        core.Trace.__init__ = init  # type: ignore[method-assign,assignment]

    def _saw(self) -> None:
        self.count += 1
        if self._loading:
            raise AutodiffWhileLoading(
                "differentiation ran while the notebook's definitions loaded, which no "
                "definition needs"
            )

    @contextmanager
    def loading(self) -> Iterator[None]:
        self._loading = True
        try:
            yield
        finally:
            self._loading = False
