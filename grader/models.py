"""The JSON contract: what matgrade writes for every graded submission.

Other tools (gradebook exports, dashboards, the class summary) read these files, so fields
are only ever added, never renamed; `SCHEMA_VERSION` changes when a field's meaning does.
`matgrade --schema` prints the JSON Schema generated from these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

ProblemStatus = Literal["passed", "partial", "wrong", "error", "timeout", "missing", "forbidden"]
SubmissionStatus = Literal["graded", "invalid", "error"]
MatchedBy = Literal["name", "behaviour", "closest"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseResult(_Model):
    """One hidden input the student's function was called on."""

    family: str = Field(description="Rubric case family, e.g. 'small' or 'large_inputs'.")
    shape: list[int] | None = Field(
        description="Shape of the expected answer for this case (sizes only, never values)."
    )
    rel_error: float | None = Field(
        description="||student - reference||_F / ||reference||_F; null when not comparable."
    )
    passed: bool
    message: str = Field(default="", description="Why the case failed, in the student's terms.")


class Timing(_Model):
    """Seconds per call of the student's function and of jax.jit(autodiff): each side's fastest
    call over the quiet timing rounds, by the trusted timer's clock (the student's from sending
    fresh inputs until the output is back, less what passing them costs a trusted echo)."""

    student_s: float
    baseline_s: float
    ratio: float = Field(
        description="Student time / autodiff time (student_s / baseline_s); below 1 is faster "
        "than autodiff."
    )
    size: dict[str, int] = Field(default_factory=dict, description="Sizes the timing used.")
    repeats: int = Field(default=0, description="Interleaved quiet repetitions behind each time.")
    discarded: int = Field(
        default=0,
        description="Repetitions left out and measured again: run in a busy spell of the machine "
        "(the student's or a baseline round over 10% slower than that side's fastest in the "
        "phase).",
    )
    flagged: str | None = Field(
        default=None,
        description="Why this timing earns no speed points: a timed call returned a wrong "
        "result, or the worker used CPU beyond its calls.",
    )
    attempts: int = Field(
        default=1,
        description="Times the answer was timed: a phase without enough quiet rounds is "
        "measured again later, and the best trustworthy attempt is kept.",
    )
    review: str | None = Field(
        default=None,
        description="Set when every attempt stayed disturbed: the speed points come from the "
        "best attempt, and the instructor's summary lists this timing for review.",
    )


WrittenStatus = Literal["agrees", "disagrees", "not_checked", "not_found"]


class WrittenAnswer(_Model):
    """The final formula of the written derivation, found in the notebook's Markdown, parsed
    (never run) and evaluated on the same hidden inputs as the code."""

    status: WrittenStatus = Field(
        description="agrees / disagrees with the reference; not_checked: found but outside what "
        "matgrade reads or binds (see detail); not_found: no final formula for this problem."
    )
    formula: str = Field(default="", description="The formula as found (LaTeX), shortened.")
    cell: int | None = Field(
        default=None, description="Index (0-based, among all cells) of its Markdown cell."
    )
    rel_error: float | None = Field(
        default=None, description="Largest ||formula - reference||_F / ||reference||_F."
    )
    diagnosis: list[str] = Field(
        default_factory=list,
        description="Recognised mistakes: transposed, factor:c, symbol_transposed:V, "
        "term_factor:c, extra_term, shapes, mistake:<name>.",
    )
    detail: str = Field(default="", description="Why it was not checked, or what is wrong.")
    score: float = 0.0
    max_score: float = 0.0
    review: bool = Field(
        default=False,
        description="Its points await the instructor: the formula could not be checked.",
    )


class ProblemResult(_Model):
    id: str
    title: str = ""
    function: str | None = Field(description="Name of the student's function that was graded.")
    matched_by: MatchedBy | None = None
    status: ProblemStatus
    correct: bool = Field(description="Every correctness case passed.")
    score: float
    max_score: float
    correctness_score: float = 0.0
    speed_score: float = 0.0
    cases: list[CaseResult] = Field(default_factory=list)
    timing: Timing | None = None
    feedback: list[str] = Field(default_factory=list)
    output: str = Field(default="", description="Student's printed output, truncated.")
    cell: int | None = Field(
        default=None,
        description="Index (0-based, among all cells) of the cell defining the graded function.",
    )
    written: WrittenAnswer | None = Field(
        default=None, description="The written formula's check; null when the rubric skips it."
    )


class ExtractionNote(_Model):
    """Something the extractor or the loader had to skip, shown to the student."""

    cell: int | None = Field(description="Index of the code cell (0-based), if known.")
    kind: Literal["syntax_error", "import_error", "definition_error", "dropped"]
    message: str


class SandboxReport(_Model):
    """How the worker was confined, as verified by the canary at the start of the run."""

    level: Literal["full", "partial", "minimal"] = Field(
        description="full: every probed attack was blocked; minimal: none of the isolation "
        "probes (secret, network, signal, write) was blocked."
    )
    layers: dict[str, str] = Field(
        description="Each confinement layer: 'active' or 'unavailable: reason'."
    )
    protections: dict[str, bool] = Field(
        description="Each canary probe: true when the parent observed the attack fail."
    )


class GradeResult(_Model):
    """Everything matgrade knows about one graded submission."""

    schema_version: str = SCHEMA_VERSION
    grader_version: str
    submission: str = Field(description="Path of the notebook as given on the command line.")
    notebook_sha256: str = Field(default="", description="Of the graded file; a change regrades.")
    rubric_sha256: str = Field(default="", description="Of the rubric and reference module.")
    student: str
    assignment: str
    assignment_title: str = ""
    status: SubmissionStatus
    total: float
    max_total: float
    problems: list[ProblemResult] = Field(default_factory=list)
    errors: list[str] = Field(
        default_factory=list,
        description="Submission-level problems: why it is invalid, or the grader's own error "
        "(status 'error': a grader bug, not the student's fault).",
    )
    notices: list[str] = Field(
        default_factory=list,
        description="About the whole submission, shown first: e.g. that nothing in it matches "
        "the rubric (the wrong assignment?).",
    )
    extraction: list[ExtractionNote] = Field(default_factory=list)
    inputs_hidden: bool = Field(
        default=True, description="False when inputs came from the public default secret."
    )
    secret_fingerprint: str = Field(
        default="",
        description="Identifies the secret the inputs came from (a slow one-way derivation, never "
        "the secret): a run with another secret regrades, and explain --reveal refuses one.",
    )
    device: str = "cpu"
    sandbox: SandboxReport | None = None
    elapsed_s: float = 0.0
