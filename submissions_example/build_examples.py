"""Writes the example notebooks of this folder (run it after editing the cells below).

seed_homework.ipynb is a real submission copied from shared/seeds and is not generated here.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = """import jax
import jax.numpy as jnp
from jax.config import config
config.update("jax_enable_x64", True)"""

EXPERIMENT = """n = 3000
U = jax.random.normal(jax.random.PRNGKey(0), (n, n))
%timeit grad_u(U, U, U, 0.5)
print("done")"""


def md(text: str) -> nbformat.NotebookNode:
    """A Markdown cell: the written derivation's final formulas, checked like the code."""
    return new_markdown_cell(text)


GOOD = [
    SETUP,
    md(
        r"""Differentiating $J(U, V) = \|UV - Y\|_F^2 + \frac{\lambda}{2}(\|U\|_F^2 + \|V\|_F^2)$:

$$\boxed{\nabla_U J = 2(UV - Y)V^\top + \lambda U}$$

$$\nabla_V J = 2U^\top (UV - Y) + \lambda V$$"""
    ),
    """def grad_u(U, V, Y, lambd):
    return 2 * (U @ V - Y) @ V.T + lambd * U

def grad_v(U, V, Y, lambd):
    return 2 * U.T @ (U @ V - Y) + lambd * V""",
    EXPERIMENT,
    md(
        r"""$\nabla f(w) = -\sum_{i=1}^{m} y_i \sigma(-y_i w^T x_i) x_i + w$, and
$\nabla^2 f(w) = X^T D X + I$ where $D = \operatorname{diag}(\sigma(Xw) \odot \sigma(-Xw))$."""
    ),
    """def logistic_grad(w, X, y):
    s = jax.nn.sigmoid(-y * (X @ w))
    return -X.T @ (y * s) + w

def logistic_hessian(w, X, y):
    margins = y * (X @ w)
    d = jax.nn.sigmoid(margins) * jax.nn.sigmoid(-margins)
    return (X.T * d) @ X + jnp.eye(w.shape[0])""",
    md(r"By the chain rule, $\nabla g(x) = A^T \nabla f(Ax + b)$."),
    """def chain_grad(x, A, b, grad_f):
    return A.T @ grad_f(A @ x + b)""",
    md(
        r"With $s = \operatorname{softmax}(w)$, $J = \operatorname{diag}(s) - s s^T$."
    ),
    """@jax.jit
def softmax_jacobian(w):
    e = jnp.exp(w - jnp.max(w))
    s = e / e.sum()
    return jnp.diag(s) - jnp.outer(s, s)""",
    md(
        r"""a) The sum of the eigenvalues is the trace: $\nabla f(X) = I$.

b) Their product is the determinant: $\nabla f(X) = \det(X) X^{-T}$."""
    ),
    """def grad_eigsum(X):
    return jnp.eye(X.shape[0])

def grad_eigprod(X):
    return jnp.linalg.det(X) * jnp.linalg.inv(X).T""",
    "import time\ntime.sleep(600)  # a forgotten experiment: never run by matgrade",
]

MISTAKES = [
    SETUP,
    "import torch  # not installed where the grader runs: only this cell's import fails",
    md(r"$\nabla_U J = 2(UV - Y)V^T$ and $\nabla_V J = 2U^T(UV - Y) + \lambda V$"),
    """def grad_u(U, V, Y, lambd):
    return 2 * (U @ V - Y) @ V.T  # forgot the regulariser

def grad_v(U, V, Y, lambd):
    return 2 * U.T @ (U @ V - Y) + lambd * V.T  # shapes do not match: raises""",
    md(r"$$\nabla f(w) = X^T (y \odot \sigma(-y \odot Xw)) - w$$"),
    """def logistic_grad(w, X, y):
    s = jax.nn.sigmoid(-y * (X @ w))
    return X.T @ (y * s) - w  # sign flipped""",
    """def my_second_derivative(w, X, y):  # not one of the rubric's names: found by behaviour
    margins = y * (X @ w)
    d = jax.nn.sigmoid(margins) * jax.nn.sigmoid(-margins)
    return X.T @ jnp.diag(d) @ X + jnp.eye(w.shape[0])""",
    """def chain_grad(x, A, b, grad_f)
    return A.T @ grad_f(A @ x + b)""",
    """def softmax_jacobian(w):
    s = jax.nn.softmax(w.astype(jnp.float32))
    return jnp.diag(s) - jnp.outer(s, s)  # float32 precision""",
    md(r"a) $\nabla f(X) = I$ and b) $\nabla f(X) = \det(X) \, X^{-1}$"),
    """def grad_eigsum(X):
    return jnp.ones(X.shape[0])  # wrong shape

def grad_eigprod(X):
    return jnp.linalg.det(X) * jnp.linalg.inv(X)  # missing transpose""",
]

CRASHES = [
    SETUP,
    """import os, sys

def grad_u(U, V, Y, lambd):
    os._exit(3)

def grad_v(U, V, Y, lambd):
    sys.exit("giving up")

def grad_eigsum(X):
    while True:
        pass

def grad_eigprod(X):
    return jnp.linalg.det(X) * jnp.linalg.inv(X).T""",
]


def notebook(cells: list[str | nbformat.NotebookNode], title: str) -> nbformat.NotebookNode:
    book = new_notebook(cells=[new_markdown_cell(f"# {title}")])
    book.cells += [new_code_cell(c) if isinstance(c, str) else c for c in cells]
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return book


def main() -> None:
    nbformat.write(notebook(GOOD, "All correct and vectorised"), HERE / "good.ipynb")
    nbformat.write(notebook(MISTAKES, "Typical mistakes"), HERE / "mistakes.ipynb")
    nbformat.write(notebook(CRASHES, "Exits, crashes and an endless loop"), HERE / "crashes.ipynb")
    (HERE / "not_a_notebook.ipynb").write_text("this is not JSON, let alone a notebook\n")


if __name__ == "__main__":
    main()
