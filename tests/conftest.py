"""Shared fixtures: paths, a rubric with short time limits, one Grader per test session, and a
compilation cache of the session's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TEST_SECRET, rubric_variant

from grader.models import GradeResult
from grader.pipeline import GradeOptions, Grader

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "submissions_example"
_OWN_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Compilation caches of this session only (in CI they start cold anyway), not the user's
    ~/.cache/matgrade: a warm cache there hid cold-start costs from tests, and tests wrote test
    rubrics' entries into it. MATGRADE_CACHE_DIR set by the caller is honoured."""
    if "MATGRADE_CACHE_DIR" not in os.environ:
        _OWN_CACHE.append(tempfile.mkdtemp(prefix="matgrade-test-cache-"))
        os.environ["MATGRADE_CACHE_DIR"] = _OWN_CACHE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _OWN_CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def write_fast_rubric(folder: Path, time_limit_s: float = 4.0) -> Path:
    """The default rubric with a short per-call limit, so endless loops cost seconds."""
    return rubric_variant(folder, "fast.yaml", limits={"time_limit_s": time_limit_s})


@pytest.fixture(scope="session")
def fast_rubric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fast_rubric(tmp_path_factory.mktemp("rubric"))


@pytest.fixture(scope="session")
def grader(fast_rubric: Path) -> Iterator[Grader]:
    grader = Grader(GradeOptions(fast_rubric, TEST_SECRET))
    yield grader
    grader.close()


_graded: dict[str, GradeResult] = {}


@pytest.fixture(scope="session")
def graded(grader: Grader):  # type: ignore[no-untyped-def]
    """Grade an example notebook once per session, however many tests read its result."""

    def grade(name: str) -> GradeResult:
        if name not in _graded:
            _graded[name] = grader.grade(EXAMPLES / name)
        return _graded[name]

    return grade
