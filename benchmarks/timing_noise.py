"""The same notebook graded N times in one batch: per copy, the student's time, the baseline's
time and their ratio for every timed problem, then the spread (p90 - p10) / median of the ratio.

For diagnosing timing noise: a steady baseline with a wandering student time points at the
worker processes, both wandering together at the machine.

Usage: python benchmarks/timing_noise.py [--count 16] [--jobs 2] [-- MATGRADE OPTIONS...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grade_class import vectorised_notebook


def grade_copies(count: int, jobs: int, options: list[str]) -> dict[str, list[tuple[float, ...]]]:
    rows: dict[str, list[tuple[float, ...]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "class").mkdir()
        for index in range(count):
            nbformat.write(vectorised_notebook(0), root / "class" / f"copy{index:03d}.ipynb")
        command = [sys.executable, "-m", "grader.cli", str(root / "class"), "-j", str(jobs),
                   "--out", str(root / "out"), "--quiet", *options]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "MATGRADE_SECRET": "timing-noise"}
        subprocess.run(command, env=env, check=True)
        for path in sorted((root / "out").glob("copy*.json")):
            for problem in json.loads(path.read_text())["problems"]:
                timing = problem["timing"]
                if timing:
                    times = (timing["student_s"], timing["baseline_s"], timing["ratio"],
                             timing["discarded"])  # fmt: skip
                    rows.setdefault(problem["id"], []).append(times)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("options", nargs="*", help="passed to matgrade (after --)")
    args = parser.parse_args()
    for problem_id, rows in grade_copies(args.count, args.jobs, args.options).items():
        students, baselines, ratios, discarded = zip(*rows, strict=True)
        deciles = statistics.quantiles(ratios, n=10)
        spread = (deciles[-1] - deciles[0]) / statistics.median(ratios)
        print(f"{problem_id}: ratio spread {spread:.1%}, rounds measured again {sum(discarded)}")
        print("  student ms ", " ".join(f"{s * 1e3:.3g}" for s in students))
        print("  baseline ms", " ".join(f"{b * 1e3:.3g}" for b in baselines))
        print("  ratio      ", " ".join(f"{r:.3g}" for r in ratios))


if __name__ == "__main__":
    main()
