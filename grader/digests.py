"""Digests that key results and hidden inputs: of the rubric and reference, of a submission
(the notebook's own digest is notebook.submission_sha256, of the bytes as read for grading)."""

from __future__ import annotations

import hashlib

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
