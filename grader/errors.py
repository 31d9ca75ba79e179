"""One exception tree for grader failures; cli.py turns each into a one-line message.

Student failures are never raised: they become results with a status. What lands here is the
grader's own trouble (bad rubric, unreadable reference module, unusable device, bad option).
"""

from __future__ import annotations

from pathlib import Path


class MatgradeError(Exception):
    """Base of every error matgrade reports to its user instead of a traceback."""

    exit_code = 1


class UsageError(MatgradeError):
    """Bad command-line input: a missing file, an option out of range."""

    exit_code = 2


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
    """A protection named with --require is missing on this machine: grading is refused."""

    exit_code = 3


class WorkerError(MatgradeError):
    """The worker broke in a way that is the grader's fault (e.g. it cannot start at all)."""


class ProtocolError(MatgradeError):
    """A message from the worker was malformed, oversized or of a forbidden type."""
