"""A class of notebooks graded with `matgrade FOLDER -j 2`, in two mixes:

- seed: copies of the real seed notebook (with its slow row-by-row softmax Jacobian);
- vectorised: correct, vectorised answers, written in varied but equivalent ways.

Reports seconds per notebook (wall time of the whole command / notebooks) and, per problem, the
spread of the speed ratio of the same answer across the batch, (p90 - p10) / median, with the
spreads of the student's and the baseline's times behind it.

Usage: python benchmarks/grade_class.py [--count 100] [--jobs 2] [--mix seed vectorised]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "submissions_example" / "seed_homework.ipynb"

HEADER = "import jax\nimport jax.numpy as jnp\n"
VARIANTS = [
    {
        "grad_u": "return 2 * (U @ V - Y) @ V.T + lambd * U",
        "grad_v": "return 2 * U.T @ (U @ V - Y) + lambd * V",
        "softmax": "s = jax.nn.softmax(w)\n    return jnp.diag(s) - jnp.outer(s, s)",
        "eigsum": "return jnp.eye(X.shape[0])",
        "eigprod": "return jnp.linalg.det(X) * jnp.linalg.inv(X).T",
    },
    {
        "grad_u": "R = U @ V - Y\n    return 2.0 * R @ V.T + lambd * U",
        "grad_v": "R = U @ V - Y\n    return 2.0 * (U.T @ R) + lambd * V",
        "softmax": (
            "e = jnp.exp(w - w.max())\n    s = e / e.sum()\n"
            "    return jnp.diag(s) - s[:, None] * s[None, :]"
        ),
        "eigsum": "return jnp.identity(X.shape[0])",
        "eigprod": "return jnp.linalg.inv(X).T * jnp.linalg.det(X)",
    },
]


def vectorised_notebook(index: int) -> nbformat.NotebookNode:
    variant = VARIANTS[index % len(VARIANTS)]
    cells = [
        HEADER,
        f"def grad_u(U, V, Y, lambd):\n    {variant['grad_u']}",
        f"def grad_v(U, V, Y, lambd):\n    {variant['grad_v']}",
        f"def softmax_jacobian(w):\n    {variant['softmax']}",
        f"def grad_eigsum(X):\n    {variant['eigsum']}",
        f"def grad_eigprod(X):\n    {variant['eigprod']}",
        f"n = {1000 + index}  # an experiment the grader never runs",
    ]
    notebook: nbformat.NotebookNode = new_notebook(cells=[new_code_cell(c) for c in cells])
    return notebook


def make_class(folder: Path, mix: str, count: int) -> None:
    for index in range(count):
        path = folder / f"student{index:03d}.ipynb"
        if mix == "seed":
            path.write_bytes(SEED.read_bytes())
        else:
            nbformat.write(vectorised_notebook(index), path)


def grade(folder: Path, out: Path, jobs: int) -> float:
    start = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-m", "grader.cli", str(folder), "-j", str(jobs), "--out", str(out)],
        env={"PATH": "/usr/bin:/bin", "MATGRADE_SECRET": "class-benchmark"},
        capture_output=True, text=True,
    )  # fmt: skip
    if finished.returncode != 0:
        print(f"  matgrade exited with {finished.returncode}: {finished.stderr.strip()[-300:]}")
    return time.perf_counter() - start


Spread = tuple[float, float]  # median, (p90 - p10) / median


def spread_of(values: list[float]) -> Spread:
    deciles = statistics.quantiles(values, n=10)
    median = statistics.median(values)
    return median, (deciles[-1] - deciles[0]) / median


def ratio_spread(out: Path) -> dict[str, tuple[Spread, Spread, Spread]]:
    """Per problem and per identical answer (variant), the ratio's median and spread, and those
    of the student's and the baseline's times (which side moved); the variant whose ratio spreads
    most is reported."""
    timings: dict[tuple[str, int], list[dict[str, float]]] = {}
    for path in out.glob("student*.json"):
        variant = int(path.stem.removeprefix("student")) % len(VARIANTS)
        for problem in json.loads(path.read_text())["problems"]:
            if problem["timing"]:
                timings.setdefault((problem["id"], variant), []).append(problem["timing"])
    spread: dict[str, tuple[Spread, Spread, Spread]] = {}
    for (problem_id, _), found in sorted(timings.items()):
        keys = ("ratio", "student_s", "baseline_s")
        ratio, student, baseline = (spread_of([t[key] for t in found]) for key in keys)
        if problem_id not in spread or ratio[1] > spread[problem_id][0][1]:
            spread[problem_id] = (ratio, student, baseline)
    return spread


def discarded_rounds(out: Path) -> tuple[int, int]:
    """Rounds measured in busy spells and measured again, and rounds used, over the batch."""
    timings = [
        problem["timing"]
        for path in out.glob("student*.json")
        for problem in json.loads(path.read_text())["problems"]
        if problem["timing"]
    ]
    return sum(t["discarded"] for t in timings), sum(t["repeats"] for t in timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--mix", nargs="+", default=["seed", "vectorised"])
    args = parser.parse_args()
    for mix in args.mix:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / "class").mkdir()
            make_class(root / "class", mix, args.count)
            seconds = grade(root / "class", root / "out", args.jobs)
            print(f"{mix}: {args.count} notebooks, -j {args.jobs}: {seconds:.0f} s, "
                  f"{seconds / args.count:.2f} s per notebook", flush=True)  # fmt: skip
            for problem_id, (ratio, student, baseline) in ratio_spread(root / "out").items():
                print(f"  {problem_id:22} speed ratio median {ratio[0]:8.3g}, "
                      f"(p90 - p10) / median {ratio[1]:6.1%}; of the student's time "
                      f"{student[1]:6.1%}, the baseline's {baseline[1]:6.1%}",
                      flush=True)  # fmt: skip
            discarded, used = discarded_rounds(root / "out")
            print(f"  rounds measured again after a busy spell: {discarded} (rounds used: {used})")


if __name__ == "__main__":
    main()
