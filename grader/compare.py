"""Pure comparison of a student's array with the reference: errors, and why they are wrong.

Errors are relative Frobenius norms computed after scaling both arrays by the reference's largest
entry, so answers like the cofactor matrix of a 200x200 matrix (entries ~1e185) do not overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Relative errors a float32 computation typically shows against float64 (measured 1e-7..5e-6).
FLOAT32_ERROR_RANGE = (1e-8, 1e-4)
FACTOR_TOLERANCE = 1e-6
NAMED_FACTORS = {2.0: "2", 0.5: "1/2", -1.0: "-1", -2.0: "-2", -0.5: "-1/2"}


@dataclass(frozen=True)
class Comparison:
    rel_error: float | None
    passed: bool
    message: str = ""
    diagnoses: tuple[str, ...] = ()


def relative_error(answer: np.ndarray, expected: np.ndarray) -> float:
    """||answer - expected||_F / ||expected||_F, guarded against overflow and a zero reference."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    if scale == 0.0:
        return float(np.linalg.norm(answer.ravel()))
    difference = np.linalg.norm(((answer - expected) / scale).ravel())
    return float(difference / np.linalg.norm((expected / scale).ravel()))


def compare(answer: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> Comparison:
    expected = np.asarray(expected, dtype=np.float64)
    if answer.shape != expected.shape:
        return _wrong_shape(answer, expected)
    if answer.dtype.kind == "c":
        if np.any(np.abs(answer.imag) > atol):
            return Comparison(None, False, "the result is complex; the answer is real-valued")
        answer = answer.real
    finite = np.isfinite(answer)
    if not finite.all():
        return _non_finite(answer, expected, finite)
    error = relative_error(answer.astype(np.float64), expected)
    passed = error <= rtol or _absolute_error(answer, expected) <= atol
    message = "" if passed else f"relative error {error:.2e} is above the tolerance {rtol:.0e}"
    if not passed and answer.dtype.itemsize < 8 and answer.dtype.kind == "f":
        message += f"; the result has dtype {answer.dtype}: compute in float64"
    diagnoses = () if passed else diagnose(answer.astype(np.float64), expected, error)
    return Comparison(error, passed, message, diagnoses)


def _absolute_error(answer: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm((answer.astype(np.float64) - expected).ravel()))


def _wrong_shape(answer: np.ndarray, expected: np.ndarray) -> Comparison:
    message = f"wrong shape: expected {_shape(expected)}, got {_shape(answer)}"
    if answer.shape == expected.shape[::-1] and answer.ndim == 2:
        message += " (the transpose of the expected shape)"
    elif answer.size == expected.size:
        message += " (same number of entries: check reshape or ravel)"
    return Comparison(None, False, message)


def _non_finite(answer: np.ndarray, expected: np.ndarray, finite: np.ndarray) -> Comparison:
    bad = int(answer.size - finite.sum())
    kinds = "NaN" if np.isnan(answer).any() else "inf"
    if np.isnan(answer).any() and np.isinf(answer).any():
        kinds = "NaN and inf"
    message = f"{bad} of {answer.size} entries are {kinds}"
    if np.isfinite(expected).all():
        message += " although the exact answer is finite (overflow or division by zero?)"
    return Comparison(None, False, message, ("non_finite",))


def _shape(array: np.ndarray) -> str:
    return "scalar" if array.ndim == 0 else "(" + ", ".join(map(str, array.shape)) + ")"


def diagnose(answer: np.ndarray, expected: np.ndarray, error: float) -> tuple[str, ...]:
    """Names of recognisable mistakes, checked in order; empty when nothing is recognised."""
    found = []
    if _is_transposed(answer, expected):
        found.append("transposed")
    factor = fitted_factor(answer, expected)
    if factor is not None and not found:
        found.append(f"factor:{factor:g}")
    if FLOAT32_ERROR_RANGE[0] <= error <= FLOAT32_ERROR_RANGE[1]:
        found.append("precision")
    return tuple(found)


def matches(answer: np.ndarray, candidate: np.ndarray) -> bool:
    """The answer equals a known wrong answer (up to rounding): the mistake is recognised."""
    if answer.shape != candidate.shape or not np.isfinite(answer).all():
        return False
    if not np.isfinite(candidate).all():
        return False
    return relative_error(answer.astype(np.float64), candidate) <= FACTOR_TOLERANCE


def _is_transposed(answer: np.ndarray, expected: np.ndarray) -> bool:
    """The transpose matches, and the reference is not symmetric (where both would match)."""
    if expected.ndim != 2 or expected.shape[0] != expected.shape[1]:
        return False
    symmetric = relative_error(expected.T, expected) <= FACTOR_TOLERANCE
    return not symmetric and relative_error(answer.T, expected) <= FACTOR_TOLERANCE


def fitted_factor(answer: np.ndarray, expected: np.ndarray) -> float | None:
    """c when answer == c * expected for a constant c != 1 (e.g. a lost factor of 2)."""
    denominator = float(np.vdot(expected, expected))
    if denominator == 0.0 or not np.isfinite(denominator):
        return None
    factor = float(np.vdot(expected, answer)) / denominator
    if abs(factor - 1.0) < 1e-3 or factor == 0.0:
        return None
    residual = relative_error(answer, factor * expected)
    return round(factor, 6) if residual <= FACTOR_TOLERANCE else None


DIAGNOSIS_HINTS = {
    "transposed": "Your result is the transpose of the correct one: check the order of matrix "
    "products and where a transpose belongs (e.g. X^{-T} rather than X^{-1}).",
    "precision": "The error is at float32 level (~1e-7): make sure the computation runs in "
    "float64 and does not pass through float32 arrays.",
    "non_finite": "The result overflows or divides by zero on some inputs; rewrite the formula "
    "in a numerically stable form.",
}


def diagnosis_hint(diagnosis: str) -> str:
    if diagnosis.startswith("factor:"):
        factor = float(diagnosis.split(":", 1)[1])
        named = NAMED_FACTORS.get(factor, f"{factor:g}")
        return (
            f"Your result is exactly {named} times the correct one: check constant factors "
            "and signs in your derivation."
        )
    return DIAGNOSIS_HINTS.get(diagnosis, "")
