"""Digests that key results and hidden inputs: of the rubric, of a notebook, of a submission."""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader.rubric import LoadedRubric


def rubric_digest(rubric: LoadedRubric) -> str:
    """Of the rubric and its reference module: a change to either regrades everything."""
    digest = hashlib.sha256(rubric.path.read_bytes())
    digest.update(rubric.reference_path().read_bytes())
    return digest.hexdigest()


def submission_key(student: str, notebook_sha256: str) -> str:
    """What hidden inputs derive from besides the secret: the student and this exact notebook,
    so answers a student printed once and pasted into a resubmission meet new inputs."""
    return f"{student}\x1f{notebook_sha256}"


def file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""
