"""Wall time of `matgrade` on the seed notebook against executing the notebook with nbclient
(what nbgrader and Otter do before they can grade), measured side by side in one run.

Usage: python benchmarks/grade_seed.py [--runs 3] [--skip-nbclient]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "submissions_example" / "seed_homework.ipynb"


def time_matgrade(out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "grader.cli", str(SEED), "--out", str(out), "--quiet"],
        check=True, env={"PATH": "/usr/bin:/bin", "MATGRADE_SECRET": "benchmark"},
    )  # fmt: skip
    return time.perf_counter() - start


def time_nbclient() -> float:
    from nbclient import NotebookClient

    notebook = nbformat.read(str(SEED), as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", allow_errors=True)
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="matgrade runs (median reported)")
    parser.add_argument("--skip-nbclient", action="store_true", help="time matgrade only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = [time_matgrade(Path(folder)) for _ in range(args.runs)]
    print(f"matgrade seed_homework.ipynb: median {statistics.median(runs):.1f} s "
          f"over {len(runs)} runs ({', '.join(f'{r:.1f}' for r in runs)})")  # fmt: skip
    if not args.skip_nbclient:
        executed = time_nbclient()
        print(f"nbclient execution of the same notebook: {executed:.1f} s")
        print(f"ratio: executing takes {executed / statistics.median(runs):.1f}x matgrade's time")


if __name__ == "__main__":
    main()
