"""Same notebook, same grade: grades four kinds of notebook several times on a quiet machine and
with a busy process on every core, and reports how far totals and speed scores moved.

The notebooks: the real seed; a vectorised correct answer; the same spread over helper functions
in other cells; and one with slow Python loops (ratios inside the speed curve's slope, where
noise would show in points). Each run grades the folder with `matgrade FOLDER -j 2`.

Usage: python benchmarks/stability.py [--runs 3] [--out FOLDER]
Prints per notebook the range of totals and per problem the range of speed scores, as shares of
their maximum, and any flagged or to-be-reviewed timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from grader.rubric import default_rubric_path, load_rubric

REPO = Path(__file__).resolve().parent.parent
HEADER = "import jax\nimport jax.numpy as jnp\nimport numpy as np\n"
VECTORISED = [
    "def grad_u(U, V, Y, lambd):\n    return 2 * (U @ V - Y) @ V.T + lambd * U",
    "def grad_v(U, V, Y, lambd):\n    return 2 * U.T @ (U @ V - Y) + lambd * V",
    "def softmax_jacobian(w):\n    s = jax.nn.softmax(w)\n    return jnp.diag(s) - jnp.outer(s, s)",
    "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])",
    "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T",
]
HELPERS = [
    "def residual(U, V, Y):\n    return U @ V - Y",
    "def grad_u(U, V, Y, lambd):\n    return 2 * residual(U, V, Y) @ V.T + lambd * U",
    "def grad_v(U, V, Y, lambd):\n    return 2 * U.T @ residual(U, V, Y) + lambd * V",
    "def stable_softmax(w):\n    e = jnp.exp(w - jnp.max(w))\n    return e / jnp.sum(e)",
    "def softmax_jacobian(w):\n    s = stable_softmax(w)\n"
    "    return jnp.diag(s) - s[:, None] * s[None, :]",
    "def cofactor_t(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X)",
    "def grad_eigprod(X):\n    return cofactor_t(X).T",
    "def grad_eigsum(X):\n    return jnp.identity(X.shape[0])",
]
LOOPS = [
    "def grad_u(U, V, Y, lambd):\n    R = U @ V - Y\n"
    "    rows = [2 * R[i] @ V.T + lambd * U[i] for i in range(U.shape[0])]\n"
    "    return jnp.stack(rows)",
    "def grad_v(U, V, Y, lambd):\n    R = U @ V - Y\n"
    "    cols = [2 * U.T @ R[:, j] + lambd * V[:, j] for j in range(V.shape[1])]\n"
    "    return jnp.stack(cols, axis=1)",
    "def softmax_jacobian(w):\n    s = jax.nn.softmax(w)\n"
    "    return jnp.stack([s[i] * (jnp.eye(len(s))[i] - s) for i in range(len(s))])",
    "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])",
    "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T",
]


def write_notebooks(folder: Path) -> None:
    shutil.copy(REPO / "submissions_example" / "seed_homework.ipynb", folder / "seed.ipynb")
    for name, cells in (("vectorised", VECTORISED), ("helpers", HELPERS), ("loops", LOOPS)):
        notebook = new_notebook(cells=[new_code_cell(c) for c in [HEADER, *cells]])
        nbformat.write(notebook, folder / f"{name}.ipynb")


@contextlib.contextmanager
def busy_cores(busy: bool) -> Iterator[None]:
    hogs = [
        subprocess.Popen(["sh", "-c", "while :; do :; done"])
        for _ in range((os.cpu_count() or 1) if busy else 0)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def grade(folder: Path, out: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    command = [sys.executable, "-m", "grader.cli", str(folder), "-j", "2", "--out", str(out)]
    subprocess.run([*command, "--quiet"], check=True, capture_output=True)
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def report(runs: list[dict[str, dict]]) -> None:  # type: ignore[type-arg]
    rubric = load_rubric(default_rubric_path()).rubric
    for student in sorted(runs[0]):
        results = [run[student] for run in runs]
        totals = [r["total"] for r in results]
        maximum = results[0]["max_total"]
        spread = (max(totals) - min(totals)) / maximum
        print(f"{student}: totals {sorted(totals)} of {maximum}: range {spread:.1%} of max")
        for index, problem in enumerate(results[0]["problems"]):
            speeds = [r["problems"][index]["speed_score"] for r in results]
            points = rubric.problems[problem["id"]].points.speed
            timings = [r["problems"][index]["timing"] or {} for r in results]
            ratios = ", ".join(f"{t.get('ratio', 0):.3g}" for t in timings)
            marks = [t.get("flagged") or t.get("review") for t in timings if t]
            share = (max(speeds) - min(speeds)) / points if points > 0 else 0.0
            print(
                f"  {problem['id']:22} speed {min(speeds):g}-{max(speeds):g} "
                f"({share:.0%} of its points); ratios {ratios}"
                + (f"; MARKED: {[m for m in marks if m]}" if any(marks) else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    root = options.out or Path(tempfile.mkdtemp(prefix="matgrade-stability-"))
    folder = root / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    write_notebooks(folder)
    runs = []
    for busy in (False, True):
        for run in range(options.runs):
            with busy_cores(busy):
                runs.append(grade(folder, root / f"{'busy' if busy else 'quiet'}-{run}"))
            print(f"{'busy' if busy else 'quiet'} run {run + 1} done", flush=True)
    report(runs)


if __name__ == "__main__":
    main()
