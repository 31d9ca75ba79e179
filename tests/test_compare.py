"""Comparison of arrays and the diagnoses of common mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from grader.compare import compare, diagnosis_hint, relative_error

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 5))
V = RNG.standard_normal(6)

CASES = [
    pytest.param(A.copy(), A, True, "", (), id="exact"),
    pytest.param(A * (1 + 1e-13), A, True, "", (), id="float64-rounding"),
    pytest.param(A.astype(np.float32), A, False, "the result has dtype float32", ("precision",), id="float32"),
    pytest.param(A.T.copy(), A, False, "relative error", ("transposed",), id="transposed"),
    pytest.param(2 * A, A, False, "relative error", ("factor:2",), id="factor-2"),
    pytest.param(-A, A, False, "relative error", ("factor:-1",), id="sign"),
    pytest.param(V[:5], V, False, "wrong shape: expected (6), got (5)", (), id="short-vector"),
    pytest.param(A[:, :3], A[:3], False, "wrong shape: expected (3, 5), got (5, 3) (the transpose", (), id="transposed-shape"),
    pytest.param(np.full((2, 2), np.nan), np.ones((2, 2)), False, "4 of 4 entries are NaN although", ("non_finite",), id="nan"),
    pytest.param(np.zeros((2, 2)) + 1e-15, np.zeros((2, 2)), True, "", (), id="zero-reference-within-atol"),
    pytest.param(np.ones((2, 2)), np.zeros((2, 2)), False, "relative error", (), id="zero-reference-wrong"),
    pytest.param(A + 0j, A, True, "", (), id="complex-with-zero-imaginary"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "expected", "passed", "message", "diagnoses"), CASES)
def test_compare(
    answer: np.ndarray, expected: np.ndarray, passed: bool, message: str, diagnoses: tuple[str, ...]
) -> None:
    result = compare(answer, expected, rtol=1e-10, atol=1e-12)
    assert result.passed is passed
    assert message in result.message
    assert result.diagnoses == diagnoses


def test_symmetric_reference_is_never_called_transposed() -> None:
    symmetric = A + A.T
    result = compare((symmetric * (1 + 1e-7)).astype(np.float32), symmetric, 1e-10, 1e-12)
    assert "transposed" not in result.diagnoses


def test_relative_error_does_not_overflow_for_huge_entries() -> None:
    huge = A * 1e300
    assert relative_error(huge * (1 + 1e-12), huge) == pytest.approx(1e-12, rel=1e-3)


@pytest.mark.parametrize(
    ("diagnosis", "text"),
    [
        ("factor:0.5", "exactly 1/2 times"),
        ("factor:3", "exactly 3 times"),
        ("transposed", "transpose"),
    ],
)
def test_hints(diagnosis: str, text: str) -> None:
    assert text in diagnosis_hint(diagnosis)
