"""Per-submission cost of the confinement layers: `matgrade` on the seed with every layer the
machine offers against `--disable-layers` of all optional ones, runs interleaved, medians.

With every layer, workers also read the shared compilation cache (given only under Landlock,
which makes it read-only); --no-cache turns all caches off to isolate the layers' own cost.

Usage: python benchmarks/confinement_cost.py [--runs 5] [--no-cache]
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

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "submissions_example" / "seed_homework.ipynb"
OPTIONAL_LAYERS = "landlock,seccomp,namespaces,uid,cgroup"


ENVIRONMENT = {"PATH": "/usr/bin:/bin", "MATGRADE_SECRET": "benchmark"}


def grade(extra: list[str], out: Path) -> tuple[float, float, str]:
    """Wall time of the whole command, the grading time it reports, and the sandbox level."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "grader.cli", str(SEED), "--out", str(out), "--quiet", *extra],
        check=True, env=ENVIRONMENT,
    )  # fmt: skip
    wall = time.perf_counter() - start
    result = json.loads((out / "seed_homework.json").read_text())
    return wall, result["elapsed_s"], result["sandbox"]["level"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-cache", action="store_true", help="MATGRADE_CACHE_DIR=''")
    args = parser.parse_args()
    if args.no_cache:
        ENVIRONMENT["MATGRADE_CACHE_DIR"] = ""
    confined: list[tuple[float, float, str]] = []
    bare: list[tuple[float, float, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.runs):
            confined.append(grade([], Path(folder)))
            bare.append(grade(["--disable-layers", OPTIONAL_LAYERS], Path(folder)))
    for label, runs in (("all layers", confined), ("limits only", bare)):
        walls = statistics.median(r[0] for r in runs)
        grading = statistics.median(r[1] for r in runs)
        print(f"{label:12} (level {runs[0][2]:7}): command {walls:5.2f} s, grading {grading:5.2f} s"
              f"  (medians of {len(runs)})")  # fmt: skip
    wall_cost = statistics.median(c[0] - b[0] for c, b in zip(confined, bare, strict=True))
    grading_cost = statistics.median(c[1] - b[1] for c, b in zip(confined, bare, strict=True))
    base = statistics.median(b[0] for b in bare)
    print(f"cost of confinement: {wall_cost:+.2f} s per command ({wall_cost / base:+.1%}), "
          f"{grading_cost:+.2f} s of grading per submission")  # fmt: skip


if __name__ == "__main__":
    main()
