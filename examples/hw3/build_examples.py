"""Writes the example submissions of the second assignment (rubrics/hw3.yaml)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
SETUP = "import jax\nimport jax.numpy as jnp\njax.config.update('jax_enable_x64', True)"

GOOD = [
    SETUP,
    "def ridge_grad(x, A, b, mu):\n    return A.T @ (A @ x - b) + mu * x",
    "def logdet_grad(X):\n    return jnp.linalg.inv(X).T",
    "def trace_form_grad(X, A):\n    return (A + A.T) @ X",
]

MISTAKES = [
    SETUP,
    "def ridge_grad(x, A, b, mu):\n    return A.T @ (A @ x - b)  # forgot the regulariser",
    "def logdet_grad(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T  # gradient of det",
    "def trace_form_grad(X, A):\n    return 2 * A @ X  # right only when A is symmetric",
]


def notebook(cells: list[str], title: str) -> nbformat.NotebookNode:
    book = new_notebook(cells=[new_markdown_cell(f"# {title}")])
    book.cells += [new_code_cell(source) for source in cells]
    return book


def main() -> None:
    nbformat.write(notebook(GOOD, "Second assignment: all correct"), HERE / "good.ipynb")
    nbformat.write(
        notebook(MISTAKES, "Second assignment: typical mistakes"), HERE / "mistakes.ipynb"
    )


if __name__ == "__main__":
    main()
