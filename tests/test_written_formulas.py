"""Written formulas: the LaTeX grammar, evaluation in float64 and the left-hand sides that name
a problem's derivative. Pure: no JAX, no workers."""

from __future__ import annotations

import numpy as np
import pytest

from grader.written.check import as_answer
from grader.written.evaluate import (
    Budget,
    Definition,
    EvaluationError,
    Function,
    Scope,
    as_value,
    evaluate,
)
from grader.written.latex import FormulaError, parse_formula
from grader.written.target import Claim, Target, claim_of, claims_target

RNG = np.random.default_rng(7)
N, K, M = 5, 3, 6
U, V, Y = RNG.normal(size=(N, K)), RNG.normal(size=(K, N)), RNG.normal(size=(N, N))
LAMBDA = 0.7
X = RNG.normal(size=(M, N))  # rows x_i
W, LABELS = RNG.normal(size=N), RNG.choice([-1.0, 1.0], size=M)
S = RNG.normal(size=(N, N)) + N * np.eye(N)  # invertible
A, B, XV = RNG.normal(size=(M, N)), RNG.normal(size=M), RNG.normal(size=N)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


GRAD_U = 2 * (U @ V - Y) @ V.T + LAMBDA * U
GRAD_V = 2 * U.T @ (U @ V - Y) + LAMBDA * V
LOGISTIC = -X.T @ (LABELS * sigmoid(-LABELS * (X @ W))) + W
HESSIAN = X.T @ ((sigmoid(X @ W) * sigmoid(-(X @ W)))[:, None] * X) + np.eye(N)
COFACTORS = np.linalg.det(S) * np.linalg.inv(S).T
SOFTMAX = np.exp(W) / np.exp(W).sum()


def scope(**extra: object) -> Scope:
    values = {
        "U": U, "V": V, "Y": Y, "\\lambda": LAMBDA, "X": X, "w": W, "y": LABELS,
        "S": S, "A": A, "b": B, "x": XV,
    }  # fmt: skip
    values.update(extra)
    return Scope(
        values={name: as_value(value) for name, value in values.items()},
        rows={"z": "X"},
        sizes={"n": N, "m": M, "k": K},
    )


def value_of(text: str, where: Scope | None = None) -> np.ndarray:
    result = evaluate(parse_formula(text).tree, where or scope())
    assert isinstance(result, np.ndarray)
    return result


# (id, formula as students write it, expected value)
WRITTEN_FORMS = [
    ("factorisation grad U", r"2(UV-Y)V^T + \lambda U", GRAD_U),
    ("factorisation grad V", r"2U^T(UV-Y) + \lambda V", GRAD_V),
    ("top and left-right", r"2\left(UV - Y\right)V^{\top} + \lambda U", GRAD_U),
    ("cdot and decorated", r"2 \cdot (\mathbf{U}\mathbf{V} - \mathbf{Y}) \mathbf{V}^T + \lambda \bm{U}", GRAD_U),
    ("fraction factor", r"\frac{1}{2} \cdot 4 (UV-Y)V^T + \lambda U", GRAD_U),
    ("frac without braces", r"\frac12 (4(UV-Y)V^T + 2\lambda U)", GRAD_U),
    ("star products", r"2*(U*V-Y)*V^T + \lambda*U", GRAD_U),
    ("plain det", r"(S^{-1})^T*det(S)", COFACTORS),
    ("det and inverse transpose", r"\det(S) \cdot S^{-T}", COFACTORS),
    ("det without parentheses", r"\det S \, S^{-\top}", COFACTORS),
    ("adjugate", r"\text{adj}(S)^T", COFACTORS),
    ("operatorname adj", r"\operatorname{adj}(S)^{T}", COFACTORS),
    ("identity", r"I", np.eye(N)),
    ("scaled identity", r"2I - I", np.eye(N)),
    ("trace", r"\operatorname{tr}(S) I", np.trace(S) * np.eye(N)),
    ("plain tr", r"tr(S)", np.trace(S)),
    ("logistic by rows", r"-\sum_{i=1}^{m} y_i \sigma(-y_i w^T z_i) z_i + w", LOGISTIC),
    ("logistic vectorised", r"-X^T (y \odot \sigma(-y \odot Xw)) + w", LOGISTIC),
    ("logistic with exp", r"\sum_{i=1}^{m} \frac{-y_i e^{-y_i w^T z_i}}{1 + e^{-y_i w^T z_i}} z_i + w", LOGISTIC),
    ("sum without limits", r"-\sum_i y_i \sigma(-y_i w^\top z_i) z_i + w", LOGISTIC),
    ("hessian by rows", r"\sum_{i=1}^{m} \sigma(y_i w^T z_i)\sigma(-y_i w^T z_i) z_i z_i^T + I", HESSIAN),
    ("hessian with diag", r"X^T \operatorname{diag}(\sigma(Xw) \odot \sigma(-Xw)) X + I", HESSIAN),
    ("softmax", r"\frac{e^{w}}{\sum_{k=1}^{n} e^{w_k}}", SOFTMAX[:, None]),
    ("softmax jacobian", r"\operatorname{diag}(\operatorname{softmax}(w)) - \operatorname{softmax}(w)\operatorname{softmax}(w)^T", np.diag(SOFTMAX) - np.outer(SOFTMAX, SOFTMAX)),
    ("norm squared", r"\|w\|_2^2", np.sum(W**2)),
    ("ones vector", r"\mathbf{1}^T w", np.sum(W)),
    ("square root", r"\sqrt{w^T w}", np.linalg.norm(W)),
    ("dot product", r"w \cdot w", np.sum(W**2)),
    ("sigma times one minus sigma", r"X^T \operatorname{diag}(\sigma(Xw)(1 - \sigma(Xw))) X + I", HESSIAN),
    ("MATLAB transpose", r"2(UV-Y)V' + \lambda U", GRAD_U),
    ("determinant bars", r"|S| S^{-T}", COFACTORS),
    ("left and right bars", r"\left| S \right| (S^{-1})^T", COFACTORS),
    ("absolute value", r"|\lambda - 1|", abs(LAMBDA - 1)),
    ("example superscripts", r"-\sum_{i=1}^{m} y^{(i)} \sigma(-y^{(i)} w^T z^{(i)}) z^{(i)} + w", LOGISTIC),
    ("sum end not a size", r"-\sum_{i=1}^{N} y_i \sigma(-y_i w^T z_i) z_i + w", LOGISTIC),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"), [row[1:] for row in WRITTEN_FORMS], ids=[row[0] for row in WRITTEN_FORMS]
)
def test_written_forms_evaluate_to_their_value(text: str, expected: np.ndarray) -> None:
    value = as_answer(evaluate(parse_formula(text).tree, scope()), np.asarray(expected))
    assert value is not None
    np.testing.assert_allclose(value, expected, rtol=1e-10)


def test_a_student_definition_is_used_and_an_indexed_one_entry_by_entry() -> None:
    soft = parse_formula(r"\frac{e^{w}}{\mathbf{1}^T e^{w}}").tree
    p_i = parse_formula(r"\sigma(-y_i w^T z_i)").tree
    where = scope()
    defined = Scope(
        values=where.values,
        rows=where.rows,
        sizes=where.sizes,
        definitions={"s": Definition(None, soft), "p": Definition("i", p_i)},
    )
    jacobian = value_of(r"\operatorname{diag}(s) - s s^T", defined)
    np.testing.assert_allclose(jacobian, np.diag(SOFTMAX) - np.outer(SOFTMAX, SOFTMAX))
    logistic = value_of(r"-\sum_{i=1}^m y_i p_i z_i + w", defined)
    np.testing.assert_allclose(logistic.reshape(-1), LOGISTIC)


def test_a_function_argument_is_applied_to_what_follows_it() -> None:
    tanh = Function("tanh", lambda array: np.tanh(array))
    where = scope()
    values = {**where.values, "\\nabla f": tanh, "f'": tanh}
    applied = Scope(values=values, rows=where.rows, sizes=where.sizes)
    expected = A.T @ np.tanh(A @ XV + B)
    for text in (r"A^T \nabla f(Ax + b)", r"\mathbf{A}^\top f'(\mathbf{A}\mathbf{x}+\mathbf{b})"):
        np.testing.assert_allclose(value_of(text, applied).reshape(-1), expected)


# (id, formula, the failure kind, words in the message)
NOT_EVALUATED = [
    ("unknown symbol", r"2(UV-Y)V^T + \lambda Q", "unbound", "Q is not one of this problem's symbols"),
    ("entry by entry", r"\delta_{ij}", "unsupported", "written entry by entry"),
    ("unworked derivative", r"\nabla_U \|UV - Y\|^2", "unsupported", "derivative"),
    ("shapes that do not fit", r"2(UV-Y)V + \lambda U", "shapes", "a 5x5 times a 3x5 array"),
    ("division by a matrix", r"\frac{U}{Y}", "unsupported", "division by a 5x5 array"),
    ("vector squared", r"w^2", "unsupported", "to the power 2"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "failure", "words"),
    [row[1:] for row in NOT_EVALUATED],
    ids=[r[0] for r in NOT_EVALUATED],
)
def test_what_cannot_be_evaluated_says_why(text: str, failure: str, words: str) -> None:
    with pytest.raises(EvaluationError) as raised:
        value_of(text)
    assert raised.value.failure == failure
    assert words in str(raised.value)


@pytest.mark.parametrize(
    "text",
    [r"e^{w_x}+...e^{w_y}", r"U \in R^{n \times k}", r"2(UV-Y", r"\frac{1}", "x" * 2100],
    ids=["dots", "set membership", "unclosed", "fraction missing a part", "too long"],
)
def test_text_outside_the_grammar_is_a_formula_error(text: str) -> None:
    with pytest.raises(FormulaError):
        parse_formula(text)


def test_student_text_is_never_run() -> None:
    """Python in a formula is letters to the grammar, not code."""
    with pytest.raises(FormulaError):
        value_of(r"__import__('os').system('true')")
    assert value_of("abc", scope(a=2.0, b=3.0, c=5.0)) == 30.0


TARGET_U = Target(frozenset({"J"}), "U", 1, frozenset(), frozenset({"U", "V", "Y", "\\lambda"}))
TARGET_X = Target(frozenset(), "X", 1, frozenset(), frozenset({"X"}))
TARGET_HESSIAN = Target(frozenset(), "w", 2, frozenset({"H"}), frozenset({"w", "X", "y"}))

# (id, left-hand side, target, anchored, claims it)
LEFT_SIDES = [
    ("nabla with subscript", r"\nabla_U J(U, V)", TARGET_U, False, True),
    ("nabla, other variable", r"\nabla_V J(U, V)", TARGET_U, True, False),
    ("partial fraction", r"\frac{\partial J}{\partial U}", TARGET_U, False, True),
    ("d fraction with arguments", r"\frac{dJ(U,V)}{dU}", TARGET_U, False, True),
    ("sloppy fraction (the seed)", r"\frac{J(U, V)}{dU}", TARGET_U, False, True),
    ("operator then function", r"\frac{d}{dU} J(U, V)", TARGET_U, False, True),
    ("mathrm d", r"\frac{\mathrm{d} J}{\mathrm{d} U}", TARGET_U, False, True),
    ("derivative of a norm", r"\frac{d\|UV - Y\|^2_F}{dU}", TARGET_U, True, False),
    ("entry derivative", r"\frac{dJ}{du_{ij}}", TARGET_U, True, False),
    ("words before it", r"so \nabla f(X)", TARGET_X, True, True),
    ("no variable, anchored", r"\nabla f", TARGET_X, True, True),
    ("no variable, far away", r"\nabla f", TARGET_X, False, False),
    ("other argument", r"\nabla f(w)", TARGET_X, True, False),
    ("trace is not a function letter", r"\frac{d}{dX} tr(X)", TARGET_X, True, False),
    ("prime", r"f'(X)", TARGET_X, True, True),
    ("hessian nabla squared", r"\nabla^2 f(w)", TARGET_HESSIAN, False, True),
    ("hessian by fractions", r"\frac{\partial^2 f}{\partial w \partial w^T}", TARGET_HESSIAN, False, True),
    ("hessian named", r"H(w)", TARGET_HESSIAN, False, True),
    ("gradient is not the hessian", r"\nabla f(w)", TARGET_HESSIAN, True, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lhs", "target", "anchored", "claims"),
    [row[1:] for row in LEFT_SIDES],
    ids=[row[0] for row in LEFT_SIDES],
)
def test_left_hand_sides_that_name_the_derivative(
    lhs: str, target: Target, anchored: bool, claims: bool
) -> None:
    claim = claim_of(parse_formula(lhs).tree, target)
    found = claim is not None and claims_target(claim, target, anchored)
    assert found == claims


def test_a_claim_records_function_variable_order_and_arguments() -> None:
    claim = claim_of(parse_formula(r"\nabla^2_w f(w)").tree, TARGET_HESSIAN)
    assert claim == Claim("f", "w", 2, ("w",))


VOCABULARY = [
    "U",
    "V",
    "Y",
    "X",
    "w",
    "y",
    "z_i",
    "x",
    "S",
    "I",
    "e",
    "2",
    "0.5",
    "1",
    "+",
    "-",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "^T",
    "^{-1}",
    "^{-T}",
    "^2",
    "_i",
    "_F",
    "\\cdot",
    "*",
    "/",
    "\\odot",
    "\\lambda",
    "\\sigma",
    "\\det",
    "\\operatorname{tr}",
    "\\text{adj}",
    "\\operatorname{diag}",
    "\\exp",
    "\\log",
    "\\frac{",
    "}{",
    "\\sum_{i=1}^{m}",
    "\\sum_i",
    "\\|",
    "|",
    "\\nabla",
    "\\partial",
    "f",
    "'",
    "\\mathbf{1}",
    "\\mathbf{",
    "\\left(",
    "\\right)",
    "\\sqrt{",
    ",",
    "=",
    "\\boxed{",
    "^{(i)}",
    "\\top",
]


@pytest.mark.parametrize("seed", range(4))
def test_random_formulas_are_read_or_refused_never_crash(seed: int) -> None:
    """Student text may be anything: every string is a value or a FormulaError."""
    rng = np.random.default_rng(seed)
    where = scope()
    for _ in range(500):
        text = " ".join(rng.choice(VOCABULARY, size=int(rng.integers(1, 14))))
        try:
            evaluate(parse_formula(text).tree, where)
        except FormulaError:
            continue


# (id, formula, the failure kind): hostile or degenerate text that must end as "not checked"
DEGENERATE = [
    ("huge nabla order", r"\nabla^{" + "9" * 400 + r"} J", "unsupported"),
    ("division by zero", r"U/0", "unsupported"),
    ("inverse of zero identity", r"(0I)^{-1}", "unsupported"),
    ("overflowing identity", r"(10^{300} I)^2", "unsupported"),
    ("singular inverse", r"(w w^T)^{-1}", "shapes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "failure"), [row[1:] for row in DEGENERATE], ids=[row[0] for row in DEGENERATE]
)
def test_degenerate_formulas_fail_as_formulas(text: str, failure: str) -> None:
    with pytest.raises(EvaluationError) as raised:
        value_of(text)
    assert raised.value.failure == failure


def test_an_unreadable_space_is_reported_not_raised() -> None:
    with pytest.raises(FormulaError, match="cannot read"):
        parse_formula("x\u00a0" + " " * 11 + "y")


def test_evaluation_stops_when_its_time_runs_out() -> None:
    where = scope()
    slow = Scope(values=where.values, rows=where.rows, sizes=where.sizes, budget=Budget(seconds=0))
    with pytest.raises(EvaluationError, match="takes too long"):
        value_of(r"\sum_{i=1}^{m} \sum_{j=1}^{m} \sum_{k=1}^{m} w^T w", slow)


def test_a_power_after_a_functions_argument_is_of_its_result() -> None:
    tanh = Function("tanh", lambda array: np.tanh(array))
    where = scope()
    applied = Scope(values={**where.values, "\\nabla f": tanh}, rows=where.rows, sizes=where.sizes)
    row = value_of(r"\nabla f(Ax + b)^T A", applied)
    np.testing.assert_allclose(row, (np.tanh(A @ XV + B) @ A)[None, :])
    assert value_of(r"\operatorname{tr}(S)^2") == pytest.approx(np.trace(S) ** 2)


def test_an_accent_makes_another_symbol() -> None:
    where = scope()
    defined = Scope(
        values=where.values,
        rows=where.rows,
        sizes=where.sizes,
        definitions={"\\hat{Y}": Definition(None, parse_formula("UV").tree)},
    )
    value = value_of(r"2(\hat{Y} - Y)V^T + \lambda U", defined)
    np.testing.assert_allclose(value, GRAD_U)
