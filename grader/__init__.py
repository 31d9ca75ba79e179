"""matgrade: grade matrix-calculus notebooks on hidden inputs, safely and fast.

The package root stays import-light because the worker process imports it too; the public API
below is loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Grader": "grader.pipeline",
    "GradeOptions": "grader.pipeline",
    "GradeResult": "grader.models",
    "ProblemResult": "grader.models",
    "Rubric": "grader.rubric",
    "load_rubric": "grader.rubric",
    "Problem": "grader.assignment",
    "Arg": "grader.assignment",
    "Mistake": "grader.assignment",
    "check_rubric": "grader.instructor",
    "MatgradeError": "grader.errors",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
