"""Writes the example submissions of the second assignment (rubrics/hw3.yaml)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
SETUP = 'import jax\nimport jax.numpy as jnp\n\njax.config.update("jax_enable_x64", True)'

# Markdown cells: the derivations' final formulas, which the rubric checks too.
RIDGE = new_markdown_cell(r"$$\nabla f(x) = A^\top (Ax - b) + \mu x$$")
LOGDET = new_markdown_cell(r"$\nabla \log\det X$ is $\nabla f(X) = X^{-T}$.")

GOOD = [
    SETUP,
    RIDGE,
    "def ridge_grad(x, A, b, mu):\n    return A.T @ (A @ x - b) + mu * x",
    LOGDET,
    "def logdet_grad(X):\n    return jnp.linalg.inv(X).T",
    new_markdown_cell(r"$\nabla_X \operatorname{tr}(X^T A X) = (A + A^T) X$"),
    "def trace_form_grad(X, A):\n    return (A + A.T) @ X",
]

MISTAKES = [
    SETUP,
    RIDGE,  # right, though the code below is not: the written points are earned
    "def ridge_grad(x, A, b, mu):\n    return A.T @ (A @ x - b)  # forgot the regulariser",
    LOGDET,
    "def logdet_grad(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T  # gradient of det",
    new_markdown_cell(r"$\nabla f(X) = 2AX$"),
    "def trace_form_grad(X, A):\n    return 2 * A @ X  # right only when A is symmetric",
]


def notebook(cells: list[str | nbformat.NotebookNode], title: str) -> nbformat.NotebookNode:
    book = new_notebook(cells=[new_markdown_cell(f"# {title}")])
    book.cells += [new_code_cell(c) if isinstance(c, str) else c for c in cells]
    return book


def main() -> None:
    nbformat.write(notebook(GOOD, "Second assignment: all correct"), HERE / "good.ipynb")
    nbformat.write(
        notebook(MISTAKES, "Second assignment: typical mistakes"), HERE / "mistakes.ipynb"
    )


if __name__ == "__main__":
    main()
