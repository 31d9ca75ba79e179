"""Every exception matgrade raises: grader failures (MatgradeError) and student outcomes.

MatgradeError is the grader's own trouble (bad rubric, unreadable reference module, unusable
device, bad option); cli.py turns each into a one-line message and an exit code. The second
family ends one student's call, timing or grading; it is caught inside the library and becomes
that student's status, never an exit code. This module is imported by the worker: stdlib only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class MatgradeError(Exception):
    """Base of every error matgrade reports to its user instead of a traceback."""

    exit_code = 1


class UsageError(MatgradeError):
    """Bad input from the user: a missing file, an option out of range. `option` names the
    setting concerned (the CLI shows it as --option)."""

    exit_code = 2

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class RubricError(MatgradeError):
    """A rubric that cannot be used; names the file and the field."""

    exit_code = 2

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = str(path)
        self.detail = message
        super().__init__(f"{self.path}: {message}")


class AssignmentError(MatgradeError):
    """The instructor's reference module cannot be loaded or disagrees with the rubric."""

    exit_code = 2

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class SandboxError(MatgradeError):
    """A required protection is missing on this machine: grading is refused."""

    exit_code = 3


class WorkerError(MatgradeError):
    """The worker broke in a way that is the grader's fault (e.g. it cannot start at all)."""


# Student outcomes: raised and caught inside the library, reported as a submission's status.


class FrameError(Exception):
    """A frame that breaks the protocol: oversized, truncated, or of a forbidden dtype."""


class WorkerTimeout(Exception):
    """The worker did not answer before its deadline and was killed."""


class WorkerDied(Exception):
    """The worker exited or broke the protocol; the message says how."""


class NotAnArray(TypeError):
    """The student's function returned something that is not one numeric array."""


class StreamFailed(Exception):
    """The worker ended a timed-call session: its frame says why (the function raised, say)."""

    def __init__(self, header: dict[str, Any]) -> None:
        super().__init__(str(header.get("message", "the timed call failed")))
        self.header = header


class StudentTimingFailed(Exception):
    """A student round ended early: the function raised, hung, died or sent a malformed reply
    (`kind`: exception, timeout, died or malformed). The worker is unusable unless the kind
    is exception."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class InvalidNotebook(Exception):
    """The file is not a readable Jupyter notebook; the submission cannot be graded."""


class LoadFailed(Exception):
    """Loading the student's definitions hung or killed the worker."""


class GradingStopped(Exception):
    """The run is being stopped (Ctrl-C, SIGTERM): this student's grade is not to be kept."""
