"""The instructor's rubric: points, tolerances, hidden case families, timing and limits.

Loaded from YAML into strict pydantic models (`extra="forbid"`), so a typo is an error that
names the file and the field path instead of a silently ignored key.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.errors import RubricError

DEFAULT_RUBRIC_NAME = "hw2.yaml"
TIMING_FAMILY = "timing"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


DEFAULTED_SECTIONS = ("tolerance", "speed", "limits", "written")


class Points(_Strict):
    correctness: float = Field(ge=0, description="Points for correct answers on the hidden cases.")
    speed: float = Field(default=0.0, ge=0, description="Points for speed, given only if correct.")


class Tolerance(_Strict):
    rtol: float = Field(
        default=1e-10, gt=0, lt=1, description="Max relative Frobenius error to pass a case."
    )
    atol: float = Field(
        default=1e-12, ge=0, description="Max absolute Frobenius error when the answer is ~0."
    )


class SpeedCurve(_Strict):
    """Full speed points at or below `full_at`, none at or above `zero_at`, log-linear between."""

    full_at: float = Field(
        default=10.0, gt=0, description="Ratio student/autodiff for full points."
    )
    zero_at: float = Field(default=200.0, gt=0, description="Ratio student/autodiff for no points.")

    @model_validator(mode="after")
    def _ordered(self) -> SpeedCurve:
        if self.zero_at <= self.full_at:
            raise ValueError(f"zero_at ({self.zero_at}) must be above full_at ({self.full_at})")
        return self


class CaseFamily(_Strict):
    """A group of hidden cases drawn alike; case i uses sizes[i % len(sizes)]."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    count: int = Field(default=2, ge=1, le=100)
    sizes: list[dict[str, int]] = Field(min_length=1)
    distribution: Literal["normal", "uniform"] = "normal"
    scale: float = Field(default=1.0, gt=0, description="Multiplies every random array entry.")
    shift: float = Field(default=0.0, description="Added to every random array entry.")
    weight: float = Field(default=1.0, ge=0, description="Share of the correctness points.")
    symmetric: bool = Field(
        default=False, description="Square array arguments are made symmetric (A + A^T) / 2."
    )


class TimingSettings(_Strict):
    sizes: dict[str, int]
    min_repeats: int = Field(default=5, ge=1, le=100)
    budget_s: float = Field(
        default=0.1,
        gt=0,
        description=(
            "Seconds of student calls per timed problem, roughly, over min_repeats rounds, each "
            "followed by a baseline round as long; rounds in a busy spell are measured again."
        ),
    )


class Limits(_Strict):
    time_limit_s: float = Field(default=20.0, gt=0, description="Wall-clock limit per call.")
    memory_mb: int = Field(default=4096, ge=256, description="Memory cap of the worker.")


class WrittenRubric(_Strict):
    """The written derivation's final formula (Markdown LaTeX), found next to the problem's
    function, parsed (never run) and evaluated on the same hidden inputs as the code."""

    check: bool = Field(default=True, description="Look for and check the written formula.")
    points: float = Field(
        default=0.0,
        ge=0,
        description="Points for a written formula that agrees with the reference; 0 reports it "
        "only. A formula that cannot be checked earns none and is listed for review.",
    )
    function: list[str] = Field(
        default_factory=list,
        description="LaTeX names of the function being differentiated (e.g. [J]); empty: any "
        "single letter that is not one of the problem's symbols.",
    )
    wrt: str | None = Field(
        default=None,
        description="LaTeX name of the variable of differentiation; default: the reference "
        "argument's name (or the LaTeX symbol bound to it).",
    )
    symbols: dict[str, str] = Field(
        default_factory=dict,
        description="LaTeX symbol -> the reference argument it stands for, e.g. {'\\lambda': "
        "lambd}; added to the defaults (each one-letter argument under its own name, Greek "
        "abbreviations such as lambd, and \\nabla f for a function argument named grad_f).",
    )
    rows: dict[str, str] = Field(
        default_factory=dict,
        description="Index conventions: {x: X} reads x_i as the i-th row of X. By default the "
        "lower-case letter of each matrix argument that names nothing else.",
    )
    answer_names: list[str] = Field(
        default_factory=list,
        description="Left-hand sides that name the answer itself (default H for a Hessian, J for "
        "a Jacobian).",
    )
    definitions: dict[str, str] = Field(
        default_factory=dict,
        description="Symbols students use without defining them, as LaTeX formulas, e.g. {s: "
        "'\\operatorname{softmax}(w)'}; a student's own definition in the notebook wins.",
    )
    reference: list[str] = Field(
        default_factory=list,
        description="The answer written in LaTeX as students might: check-rubric checks that "
        "each evaluates to the closed form.",
    )
    rtol: float = Field(
        default=1e-8,
        gt=0,
        lt=1,
        description="Max relative Frobenius error for the formula to agree (a formula is "
        "evaluated as written, so looser than the code's tolerance).",
    )

    @model_validator(mode="after")
    def _formulas_parse(self) -> WrittenRubric:
        from grader.written.latex import FormulaError, parse_formula

        for where, formula in [
            *(("reference", text) for text in self.reference),
            *((f"definitions.{name}", text) for name, text in self.definitions.items()),
        ]:
            try:
                parse_formula(formula)
            except FormulaError as error:
                raise ValueError(f"{where}: {formula!r} {error}") from None
        return self


class ProblemRubric(_Strict):
    names: list[str] = Field(min_length=1, description="Accepted names of the student's function.")
    points: Points
    cases: list[CaseFamily] = Field(min_length=1)
    timing: TimingSettings | None = None  # None: not timed
    # Filled from the rubric's defaults before validation: a problem's section overrides only
    # the fields it names.
    tolerance: Tolerance = Field(default_factory=Tolerance)
    speed: SpeedCurve = Field(default_factory=SpeedCurve)
    limits: Limits = Field(default_factory=Limits)
    written: WrittenRubric = Field(default_factory=WrittenRubric)
    allow_autodiff: bool = Field(
        default=False, description="Accept answers that call jax.grad and friends."
    )

    def max_score(self) -> float:
        written = self.written.points if self.written.check else 0.0
        return self.points.correctness + self.points.speed + written

    @model_validator(mode="after")
    def _unique_families(self) -> ProblemRubric:
        names = [family.name for family in self.cases]
        if len(set(names)) != len(names):
            raise ValueError(f"case family names must be unique, got {names}")
        if TIMING_FAMILY in names:
            raise ValueError(f"'{TIMING_FAMILY}' is reserved for the timing inputs")
        return self


class Defaults(_Strict):
    tolerance: Tolerance = Tolerance()
    speed: SpeedCurve = SpeedCurve()
    limits: Limits = Limits()
    written: WrittenRubric = WrittenRubric()


class Rubric(_Strict):
    """A whole assignment's rubric; `reference` is a path relative to the rubric file."""

    assignment: str
    title: str = ""
    reference: str
    defaults: Defaults = Defaults()
    problems: dict[str, ProblemRubric] = Field(min_length=1)
    notebook_time_s: float = Field(
        default=300.0,
        gt=0,
        description="Wall-clock budget for checking one notebook's answers, loading included: "
        "problems not reached within it score 0 and say so. A call or a load already running "
        "is let finish (up to its own limit).",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """A problem's section overrides only the fields it names; the rest come from defaults,
        merged before validation so that a validated rubric has nothing left to fill in."""
        if not isinstance(data, dict) or not isinstance(data.get("problems"), dict):
            return data
        given = data.get("defaults")
        defaults: dict[str, Any] = given if isinstance(given, dict) else {}
        problems = {
            pid: _with_defaults(problem, defaults) for pid, problem in data["problems"].items()
        }
        return {**data, "problems": problems}

    def max_total(self) -> float:
        return sum(p.max_score() for p in self.problems.values())


def _with_defaults(problem: Any, defaults: dict[str, Any]) -> Any:
    if not isinstance(problem, dict):
        return problem
    merged = dict(problem)
    for section in DEFAULTED_SECTIONS:
        default, override = defaults.get(section), problem.get(section, {})
        if isinstance(default, dict) and isinstance(override, dict):
            merged[section] = {**default, **override}
    return merged


class LoadedRubric(BaseModel):
    """A validated rubric together with the file it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    path: Path
    rubric: Rubric

    def reference_path(self) -> Path:
        return (self.path.parent / self.rubric.reference).resolve()


def rubric_schema_json() -> str:
    """For editors: shipped rubrics point at it with a yaml-language-server comment."""
    import json

    schema = Rubric.model_json_schema()
    schema["title"] = "matgrade rubric"
    return json.dumps(schema, indent=2) + "\n"


def default_rubric_path() -> Path:
    return Path(str(importlib.resources.files("rubrics").joinpath(DEFAULT_RUBRIC_NAME)))


def load_rubric(path: Path) -> LoadedRubric:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RubricError(path, f"cannot read: {error.strerror}") from error
    return LoadedRubric(path=path, rubric=parse_rubric(text, path))


def parse_rubric(text: str, path: Path | str) -> Rubric:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RubricError(path, f"not valid YAML: {_yaml_problem(error)}") from error
    if not isinstance(data, dict):
        raise RubricError(path, "expected a mapping at the top level")
    try:
        return Rubric.model_validate(data)
    except ValidationError as error:
        raise RubricError(path, describe_validation_error(error)) from error


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def describe_validation_error(error: ValidationError) -> str:
    """One line per wrong field: its dotted path, what was wrong and what was expected."""
    return "; ".join(_describe_one(item) for item in error.errors())


def _describe_one(item: Any) -> str:
    where = ".".join(str(part) for part in item["loc"]) or "(top level)"
    kind = item["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind == "missing":
        return f"{where}: required field is missing"
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{where}: {message} (got {item['input']!r})"
