"""Rubric validation: every mistake is one message naming the file, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.errors import RubricError
from grader.rubric import CaseFamily, Points, default_rubric_path, load_rubric, parse_rubric

MINIMAL = {
    "assignment": "demo",
    "reference": "demo.py",
    "problems": {
        "p": {
            "names": ["f"],
            "points": {"correctness": 1},
            "cases": [{"name": "a", "sizes": [{"n": 3}]}],
        }
    },
}


def _with(path: str, value: object) -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(yaml.safe_dump(MINIMAL))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return data  # type: ignore[no-any-return]


ERRORS = [
    pytest.param(
        _with("problems.p.tolerance", {"rtl": 1e-8}),
        "r.yaml: problems.p.tolerance.rtl: unknown field",
        id="typo-in-field",
    ),
    pytest.param(
        _with("problems.p.points.correctness", -1),
        "r.yaml: problems.p.points.correctness: Input should be greater than or equal to 0 (got -1)",
        id="negative-points",
    ),
    pytest.param(
        _with("problems.p.speed", {"full_at": 5, "zero_at": 2}),
        "r.yaml: problems.p.speed: zero_at (2.0) must be above full_at (5.0) (got {'full_at': 5, 'zero_at': 2})",
        id="speed-curve-reversed",
    ),
    pytest.param(
        _with("problems.p.cases", []),
        "r.yaml: problems.p.cases: List should have at least 1 item after validation, not 0 (got [])",
        id="no-cases",
    ),
    pytest.param(
        _with("problems.p.cases.0.distribution", "cauchy"),
        "r.yaml: problems.p.cases.0.distribution: Input should be 'normal' or 'uniform' (got 'cauchy')",
        id="bad-distribution",
    ),
    pytest.param(
        _with("problems.p.limits", {"time_limit_s": "fast"}),
        "r.yaml: problems.p.limits.time_limit_s: Input should be a valid number, "
        "unable to parse string as a number (got 'fast')",
        id="wrong-type",
    ),
    pytest.param(
        {k: v for k, v in MINIMAL.items() if k != "reference"},
        "r.yaml: reference: required field is missing",
        id="missing-field",
    ),
    pytest.param(
        _with("problems.p.cases.0.tolerance", 1e-3),
        "r.yaml: problems.p.cases.0.tolerance: unknown field",
        id="field-in-wrong-place",
    ),
]


@pytest.mark.parametrize(("data", "message"), ERRORS)
def test_validation_messages(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(RubricError) as error:
        parse_rubric(yaml.safe_dump(data), "r.yaml")
    assert str(error.value) == message


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(RubricError) as error:
        parse_rubric("assignment: [unclosed\n", "r.yaml")
    assert str(error.value).startswith("r.yaml: not valid YAML: line 2, column 1:")


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(RubricError, match=r"^r.yaml: expected a mapping at the top level$"):
        parse_rubric("- 1\n- 2\n", "r.yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match=r"nope.yaml: cannot read: No such file or directory$"):
        load_rubric(tmp_path / "nope.yaml")


def test_problem_defaults_are_filled_from_rubric_defaults() -> None:
    rubric = parse_rubric(yaml.safe_dump(_with("defaults", {"limits": {"time_limit_s": 3}})), "r")
    limits = rubric.problems["p"].limits
    assert limits is not None and limits.time_limit_s == 3


def test_default_rubric_loads_and_points_at_the_reference() -> None:
    loaded = load_rubric(default_rubric_path())
    assert loaded.reference_path().name == "hw2.py"
    assert loaded.reference_path().is_file()
    assert set(loaded.rubric.problems) == {
        "p1_grad_u", "p1_grad_v", "p1_logistic_grad", "p1_logistic_hessian", "p1_chain_grad",
        "p2_softmax_jacobian", "p2_grad_eigsum", "p2_grad_eigprod",
    }  # fmt: skip


def test_problem_sections_override_only_the_fields_they_name() -> None:
    data = _with(
        "defaults",
        {
            "limits": {"time_limit_s": 5, "memory_mb": 1024},
            "tolerance": {"rtol": 1e-9, "atol": 1e-3},
        },
    )
    data["problems"]["p"]["limits"] = {"time_limit_s": 60}
    data["problems"]["p"]["tolerance"] = {"rtol": 1e-8}
    problem = parse_rubric(yaml.safe_dump(data), "r").problems["p"]
    assert problem.limits is not None and (
        problem.limits.time_limit_s,
        problem.limits.memory_mb,
    ) == (60, 1024)
    assert problem.tolerance is not None and (problem.tolerance.rtol, problem.tolerance.atol) == (
        1e-8,
        1e-3,
    )


HW2 = load_rubric(default_rubric_path())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"cases": [CaseFamily(name="a", sizes=[{"n": 3, "q": 2}])]},
                     "problems.p2_grad_eigsum.cases.a: unknown size q (uses n)", id="unknown-size"),
        pytest.param({"cases": [CaseFamily(name="a", sizes=[{"m": 3}])]},
                     "problems.p2_grad_eigsum.cases.a: sizes lack n", id="missing-size"),
        pytest.param({"timing": None, "points": Points(correctness=1, speed=0.5)},
                     "problems.p2_grad_eigsum: points.speed > 0 needs a timing section", id="speed-without-timing"),
    ],
)  # fmt: skip
def test_rubric_must_fit_its_reference(change: dict, message: str) -> None:  # type: ignore[type-arg]
    from grader.assignment import load_assignment
    from grader.consistency import check_consistency
    from grader.rubric import LoadedRubric

    problems = dict(HW2.rubric.problems)
    problems["p2_grad_eigsum"] = problems["p2_grad_eigsum"].model_copy(update=change)
    rubric = HW2.rubric.model_copy(update={"problems": problems})
    loaded = LoadedRubric(path=HW2.path, rubric=rubric)
    with pytest.raises(RubricError) as error:
        check_consistency(loaded, load_assignment(HW2.reference_path()))
    assert error.value.detail == message
