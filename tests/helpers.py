"""Helpers shared by the test files: running the CLI as a user does, and rubric variants."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from grader.inputs import Secret
from grader.rubric import default_rubric_path

REPO = Path(__file__).resolve().parent.parent
RUBRICS = REPO / "rubrics"
HEADER = "import jax\nimport jax.numpy as jnp\nimport numpy as np\n"  # a notebook's first cell
TEST_SECRET = Secret(b"matgrade-test-secret", hidden=True)
# Set by a CI runner or the caller's shell, these would change what a run writes or derives.
LEAKY_ENV = ("MATGRADE_SECRET", "GITHUB_STEP_SUMMARY")


def run_matgrade(
    *args: str,
    cwd: Path = REPO,
    secret: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """`matgrade ARGS` in a fresh process, with `secret` as $MATGRADE_SECRET (none if None)."""
    environment = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    if secret is not None:
        environment["MATGRADE_SECRET"] = secret
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def rubric_variant(
    folder: Path,
    name: str,
    source: Path | None = None,
    problems: Iterable[str] | None = None,
    limits: Mapping[str, Any] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """`source` (the default rubric) written to folder/name with its reference made absolute,
    only `problems` kept, `limits` as the defaults' limits, and `edit` applied to the data."""
    source = source or default_rubric_path()
    data = yaml.safe_load(source.read_text())
    data["reference"] = str((source.parent / data["reference"]).resolve())
    if problems is not None:
        data["problems"] = {pid: data["problems"][pid] for pid in problems}
    if limits is not None:
        data.setdefault("defaults", {})["limits"] = dict(limits)
    if edit is not None:
        edit(data)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
