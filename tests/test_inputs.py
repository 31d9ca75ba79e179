"""Hidden inputs: reproducible per (secret, student, problem, case), different otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.assignment import Arg, Problem, load_assignment
from grader.errors import UsageError
from grader.inputs import PUBLIC_SECRET, load_secret, make_call_cases, make_case, timing_key
from grader.rubric import CaseFamily, default_rubric_path, load_rubric

ASSIGNMENT = load_assignment(load_rubric(default_rubric_path()).reference_path())
FAMILY = CaseFamily(name="random", count=3, sizes=[{"n": 9, "k": 4}, {"n": 16, "k": 5}])
PROBLEM = ASSIGNMENT.problems["p1_grad_u"]


def _u(secret: bytes, student: str, index: int = 0) -> np.ndarray:
    value = make_case(secret, student, PROBLEM, FAMILY, index).args[0]
    assert isinstance(value, np.ndarray)
    return value


def test_same_inputs_for_same_key() -> None:
    np.testing.assert_array_equal(_u(b"s", "alice"), _u(b"s", "alice"))


@pytest.mark.parametrize(
    ("other_secret", "other_student", "other_index"),
    [(b"t", "alice", 0), (b"s", "bob", 0), (b"s", "alice", 2)],
    ids=["secret", "student", "case"],
)
def test_inputs_differ(other_secret: bytes, other_student: str, other_index: int) -> None:
    assert not np.array_equal(_u(b"s", "alice"), _u(other_secret, other_student, other_index))


def test_shapes_follow_sizes_and_are_not_square() -> None:
    shapes = [make_case(b"s", "a", PROBLEM, FAMILY, i).args[0].shape for i in range(3)]  # type: ignore[union-attr]
    assert shapes == [(9, 4), (16, 5), (9, 4)]


def test_arguments_of_every_kind() -> None:
    chain = ASSIGNMENT.problems["p1_chain_grad"]
    family = CaseFamily(name="f", sizes=[{"m": 3, "n": 2}])
    x, A, b, grad_f = make_case(b"s", "a", chain, family, 0).args
    assert [np.shape(x), np.shape(A), np.shape(b)] == [(2,), (3, 2), (3,)]
    assert grad_f in {"logcosh", "half_square", "softplus"}
    labels = make_case(b"s", "a", ASSIGNMENT.problems["p1_logistic_grad"], family, 0).args[2]
    assert set(np.unique(labels)) <= {-1.0, 1.0}


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATGRADE_SECRET", raising=False)
    assert load_secret(None).key == PUBLIC_SECRET and not load_secret(None).hidden
    monkeypatch.setenv("MATGRADE_SECRET", "from-env")
    assert load_secret(None).key == b"from-env"
    (tmp_path / "s").write_text("from-file\n")
    assert load_secret(tmp_path / "s").key == b"from-file"
    (tmp_path / "empty").write_text("")
    with pytest.raises(UsageError, match="secret file is empty"):
        load_secret(tmp_path / "empty")


def test_timed_calls_get_independent_inputs_not_rescalings_of_each_other() -> None:
    sizes = {"n": 9, "k": 4}
    key = timing_key(b"secret", "ada", PROBLEM.id, 3)
    first, second = (np.asarray(c.args[0]) for c in make_call_cases(key, PROBLEM, sizes, 2))
    assert first.shape == (9, 4) and not np.allclose(first / first.flat[0], second / second.flat[0])
    again = make_call_cases(key, PROBLEM, sizes, 2)[1].args[0]
    assert np.array_equal(second, np.asarray(again))
    other = timing_key(b"secret", "ada", PROBLEM.id, 4)
    assert not np.allclose(first, np.asarray(make_call_cases(other, PROBLEM, sizes, 1)[0].args[0]))


def _kind_case(kind: str, shape: tuple[str, ...], **family: Any) -> np.ndarray:
    problem = Problem(
        "p",
        "",
        (Arg("A", shape, kind=kind),),
        objective=lambda a: a,
        closed_form=lambda a: a,  # type: ignore[arg-type]
    )
    cases = CaseFamily(name="f", count=1, sizes=[{"n": 5}], **family)
    value = make_case(b"s", "a", problem, cases, 0).args[0]
    assert isinstance(value, np.ndarray) and value.dtype == np.float64
    return value


SQUARE = ("n", "n")
KIND_PROPERTIES = [
    pytest.param("diagonal", SQUARE, lambda a: np.array_equal(a, np.diag(np.diag(a))), id="diagonal"),
    pytest.param("symmetric", SQUARE, lambda a: np.array_equal(a, a.T), id="symmetric"),
    pytest.param("spd", SQUARE, lambda a: np.allclose(a, a.T) and np.linalg.eigvalsh(a).min() > 0, id="spd"),
    pytest.param("orthogonal", SQUARE, lambda a: np.allclose(a @ a.T, np.eye(5)), id="orthogonal"),
    pytest.param("lower_triangular", SQUARE, lambda a: np.array_equal(a, np.tril(a)) and a[1, 0] != 0, id="lower-triangular"),
    pytest.param("positive", ("n",), lambda a: (a > 0).all(), id="positive"),
    pytest.param("probability", ("n",), lambda a: (a > 0).all() and np.isclose(a.sum(), 1), id="probability"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "shape", "holds"), KIND_PROPERTIES)
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_argument_kinds_have_their_structure(
    kind: str, shape: tuple[str, ...], holds: Any, distribution: str
) -> None:
    assert holds(_kind_case(kind, shape, distribution=distribution))


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        pytest.param("diagonal", lambda a, b: np.allclose(np.diag(b), 3 * np.diag(a) + 10), id="diagonal"),
        pytest.param("spd", lambda a, b: np.allclose(b, 3 * a + 10 * np.eye(5)), id="spd"),
        pytest.param("orthogonal", lambda a, b: np.allclose(b, 3 * a), id="orthogonal-scale-only"),
        pytest.param("lower_triangular", lambda a, b: np.allclose(b, np.tril(3 * a + 10)), id="lower-triangular"),
    ],
)  # fmt: skip
def test_argument_kinds_honour_the_family_scale_and_shift(kind: str, check: Any) -> None:
    plain = _kind_case(kind, SQUARE)
    scaled = _kind_case(kind, SQUARE, scale=3.0, shift=10.0)
    assert check(plain, scaled)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"kind": "diagnoal", "shape": SQUARE}, "Arg 'A': unknown kind 'diagnoal' (known: array, diagonal", id="typo"),
        pytest.param({"kind": "spd", "shape": ("m", "n")}, "Arg 'A': kind 'spd' needs a square shape", id="not-square"),
        pytest.param({"kind": "probability", "shape": SQUARE}, "Arg 'A': kind 'probability' needs a vector", id="not-a-vector"),
    ],
)  # fmt: skip
def test_a_wrong_argument_kind_is_refused_when_declared(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        Arg("A", **arguments)
    assert str(raised.value).startswith(message)
