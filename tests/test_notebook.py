"""Extraction: what is kept from a notebook and what is dropped, without running anything."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from grader.errors import InvalidNotebook
from grader.notebook import MAX_NOTEBOOK_BYTES, code_cells, extract, read_notebook, strip_magics

KEPT = [
    pytest.param("import jax.numpy as jnp", ["jnp"], id="import"),
    pytest.param("from jax.config import config", ["config"], id="legacy-config-import"),
    pytest.param("def f(x):\n    return x", ["f"], id="function"),
    pytest.param("@jax.jit\ndef f(x):\n    return x", ["f"], id="decorated"),
    pytest.param("@partial(jax.jit, static_argnums=1)\ndef f(x, n):\n    return x", ["f"], id="partial-decorator"),
    pytest.param("g = lambda y: y * 2", ["g"], id="lambda"),
    pytest.param("def J(u):\n    return u\ndJ = grad(J, argnums=0)", ["J", "dJ"], id="grad-transform"),
    pytest.param("def h(x):\n    return x\nfast_h = jax.jit(h)", ["h", "fast_h"], id="jit-transform"),
    pytest.param("def h(x, a):\n    return x\nh2 = functools.partial(h, a=1)", ["h", "h2"], id="partial"),
    pytest.param("def h(x):\n    return x\nalias = h", ["h", "alias"], id="alias"),
    pytest.param("class Helper:\n    pass", ["Helper"], id="class"),
    pytest.param("try:\n    from jax.config import config\nexcept ImportError:\n    from jax import config", ["config"], id="import-fallback"),
    pytest.param("EPS = 1e-8\ndef f(x):\n    return x + EPS", ["EPS", "f"], id="used-constant"),
]  # fmt: skip

DROPPED = [
    pytest.param("n = 3000", id="unused-constant"),
    pytest.param("U = jax.random.normal(key, (3000, 1000))", id="experiment-data"),
    pytest.param("%timeit f(U)", id="line-magic"),
    pytest.param("!pip install torch", id="shell"),
    pytest.param("print(f(U))", id="print"),
    pytest.param("import time\ntime.sleep(600)", id="sleep-call"),
    pytest.param("for i in range(10**9):\n    pass", id="loop"),
    pytest.param("config.update('jax_enable_x64', True)", id="config-update"),
    pytest.param("%%timeit\nf(U)", id="timeit-cell-magic"),
    pytest.param("%%bash\nrm -rf /", id="bash-cell-magic"),
    pytest.param("result = f(U)", id="call-result"),
]


def _defined(source: str) -> list[str]:
    return [name for chunk in extract([source]).chunks for name in chunk.defines]


@pytest.mark.parametrize(("source", "names"), KEPT)
def test_kept(source: str, names: list[str]) -> None:
    assert _defined(source) == names


@pytest.mark.parametrize("source", DROPPED)
def test_dropped(source: str) -> None:
    extraction = extract([source])
    assert [c.source for c in extraction.chunks if not c.is_import] == []


def test_statement_sharing_a_line_with_an_experiment_is_unparsed_alone() -> None:
    extraction = extract(["EPS = 2; run_experiment()\ndef f(x):\n    return x * EPS"])
    assert [chunk.source for chunk in extraction.chunks] == [
        "EPS = 2",
        "def f(x):\n    return x * EPS",
    ]


def test_function_defined_inside_time_cell_magic_is_kept() -> None:
    assert _defined("%%time\ndef f(x):\n    return x") == ["f"]


def test_syntax_error_skips_only_that_cell() -> None:
    extraction = extract(["def f(x)\n    return x", "def g(x):\n    return x"])
    assert _names(extraction) == ["g"]
    assert [(n.cell, n.kind, n.message) for n in extraction.notes] == [
        (0, "syntax_error", "line 1: expected ':'; this cell was skipped")
    ]


def test_last_definition_wins_in_candidates() -> None:
    extraction = extract(
        ["def f(x):\n    return 1", "def g(x):\n    return 2", "def f(x):\n    return 3"]
    )
    assert extraction.candidates == ["g", "f"]


def test_chunks_keep_cell_and_line_for_error_messages() -> None:
    extraction = extract(["import jax", "y = 1\n\n@jax.jit\ndef f(x):\n    return x"])
    assert [(c.cell, c.line) for c in extraction.chunks] == [(0, 1), (1, 3)]


def test_magics_become_calls_that_are_dropped() -> None:
    assert strip_magics("%timeit f(x)") == "get_ipython().run_line_magic('timeit', 'f(x)')\n"


def _names(extraction) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for chunk in extraction.chunks for name in chunk.defines]


def test_reads_v3_notebooks(tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook(
        worksheets=[
            nbformat.v3.new_worksheet(
                cells=[nbformat.v3.new_code_cell(input="def f(x):\n    return x")]
            )
        ]
    )
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3, version=3))
    assert code_cells(read_notebook(path)) == ["def f(x):\n    return x"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(
            "not json", "not a Jupyter notebook: not valid JSON (line 1, column 1)", id="text"
        ),
        pytest.param(
            '{"cells": 3}',
            "not a Jupyter notebook: valid JSON, but not laid out as a notebook",
            id="bad-structure",
        ),
        pytest.param(
            b"\xff\xfe", "not a Jupyter notebook: the file is not UTF-8 text", id="binary"
        ),
        pytest.param("[" * 100_000, "not a Jupyter notebook", id="deeply-nested"),
    ],
)
def test_invalid_notebooks(tmp_path: Path, content: str | bytes, reason: str) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InvalidNotebook) as error:
        read_notebook(path)
    assert str(error.value).startswith(reason)


SECRET_TEXT = "s3cr3t-grading-key-do-not-leak"


def _symlink_to_secret(folder: Path) -> Path:
    secret = folder / "secret.txt"
    secret.write_text(SECRET_TEXT)
    (folder / "evil.ipynb").symlink_to(secret)
    return folder / "evil.ipynb"


def _symlink_to_classmate(folder: Path) -> Path:
    classmate = folder / "classmate.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), classmate)
    (folder / "copy.ipynb").symlink_to(classmate)
    return folder / "copy.ipynb"


def _symlink_to_dev_zero(folder: Path) -> Path:
    (folder / "zero.ipynb").symlink_to("/dev/zero")
    return folder / "zero.ipynb"


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.ipynb")
    return folder / "pipe.ipynb"


def _folder(folder: Path) -> Path:
    (folder / "dir.ipynb").mkdir()
    return folder / "dir.ipynb"


def _huge(folder: Path) -> Path:
    path = folder / "huge.ipynb"
    with path.open("wb") as stream:
        stream.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: no disk used
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(_symlink_to_secret, "a symbolic link", id="symlink-to-secret"),
        pytest.param(_symlink_to_classmate, "a symbolic link", id="symlink-to-classmate"),
        pytest.param(_symlink_to_dev_zero, "a symbolic link", id="symlink-to-dev-zero"),
        pytest.param(_fifo, "not a regular file", id="fifo"),
        pytest.param(_folder, "not a regular file", id="folder"),
        pytest.param(_huge, "larger than the 32 MB", id="too-large"),
    ],
)
def test_only_regular_files_of_bounded_size_are_read(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    with pytest.raises(InvalidNotebook) as error:
        read_notebook(make(tmp_path))
    assert reason in str(error.value) and SECRET_TEXT not in str(error.value)


AUTODIFF = [
    pytest.param("import jax\ndef f(x):\n    return jax.grad(g)(x)", "jax.grad", id="jax-grad"),
    pytest.param(
        "from jax import grad as g\ndef f(x):\n    return g(h)(x)", "jax.grad", id="aliased-import"
    ),
    pytest.param(
        "import jax as j\ndef f(x):\n    return j.jacrev(h)(x)", "jax.jacrev", id="aliased-module"
    ),
    pytest.param(
        "import jax\ndJ = jax.grad(J)\ndef f(x):\n    return dJ(x)",
        "jax.grad",
        id="through-assignment",
    ),
    pytest.param(
        "import jax\ndef helper(x):\n    return jax.hessian(h)(x)\ndef f(x):\n    return helper(x)",
        "jax.hessian",
        id="through-helper",
    ),
    pytest.param(
        "from jax import vjp\ndef f(x):\n    out, back = vjp(h, x)\n    return back(x)",
        "jax.vjp",
        id="vjp",
    ),
    pytest.param(
        "import torch\ndef f(x):\n    return torch.autograd.grad(x, x)",
        "torch.autograd.grad",
        id="torch",
    ),
    pytest.param(
        "import jax\nimport jax.numpy as jnp\ndef f(x):\n    return jax.jit(jnp.tanh)(x)",
        None,
        id="jit-is-fine",
    ),
    pytest.param("import jax\nf = lambda x: jax.jacfwd(h)(x)", "jax.jacfwd", id="lambda"),
]


@pytest.mark.parametrize(("source", "call"), AUTODIFF)
def test_autodiff_detection(source: str, call: str | None) -> None:
    from grader.autodiff_check import find_autodiff

    use = find_autodiff(extract([source]).chunks, "f")
    assert (use.call if use else None) == call


SHADOWING = [
    pytest.param(
        "from jax import grad, hessian\ndef f(w, X):\n    hessian = X.T @ X\n    return hessian",
        None,
        id="local-shadows-import",
    ),
    pytest.param(
        "from jax import grad\ndef f(x, A, b, grad):\n    return A.T @ grad(A @ x + b)",
        None,
        id="parameter-shadows-import",
    ),
    pytest.param(
        "def f(x):\n    import jax\n    return jax.grad(h)(x)",
        "jax.grad",
        id="import-inside-function",
    ),
    pytest.param(
        "def f(x):\n    from jax import hessian as h2\n    return h2(g)(x)",
        "jax.hessian",
        id="aliased-import-inside",
    ),
]


@pytest.mark.parametrize(("source", "call"), SHADOWING)
def test_autodiff_scopes(source: str, call: str | None) -> None:
    from grader.autodiff_check import find_autodiff

    use = find_autodiff(extract([source]).chunks, "f")
    assert (use.call if use else None) == call
