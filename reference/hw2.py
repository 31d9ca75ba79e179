"""Reference for "Home assignment 2: matrix calculus and autodiff".

Each problem: the objective in JAX (the autodiff baseline is derived from it), the closed-form
derivative the statement asks students to derive, and the arguments with symbolic shapes whose
sizes come from the rubric.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from grader.assignment import Arg, Mistake, Problem

Array = Any


def factorisation_loss(U: Array, V: Array, Y: Array, lambd: float) -> Array:
    residual = U @ V - Y
    return jnp.sum(residual**2) + lambd / 2 * (jnp.sum(U**2) + jnp.sum(V**2))


def factorisation_grad_u(U: Array, V: Array, Y: Array, lambd: float) -> Array:
    return 2 * (U @ V - Y) @ V.T + lambd * U


def factorisation_grad_v(U: Array, V: Array, Y: Array, lambd: float) -> Array:
    return 2 * U.T @ (U @ V - Y) + lambd * V


def logistic_loss(w: Array, X: Array, y: Array) -> Array:
    margins = y * (X @ w)
    return jnp.sum(jnp.logaddexp(0.0, -margins)) + 0.5 * jnp.sum(w**2)


def logistic_grad(w: Array, X: Array, y: Array) -> Array:
    margins = y * (X @ w)
    return -X.T @ (y * jax.nn.sigmoid(-margins)) + w


def logistic_hessian(w: Array, X: Array, y: Array) -> Array:
    margins = y * (X @ w)
    weights = jax.nn.sigmoid(margins) * jax.nn.sigmoid(-margins)
    return X.T @ (weights[:, None] * X) + jnp.eye(w.shape[0])


def composed(x: Array, A: Array, b: Array, f: Any) -> Array:
    return f(A @ x + b)


def composed_grad(x: Array, A: Array, b: Array, grad_f: Any) -> Array:
    return A.T @ grad_f(A @ x + b)


def softmax(w: Array) -> Array:
    return jax.nn.softmax(w)


def softmax_jacobian(w: Array) -> Array:
    s = jax.nn.softmax(w)
    return jnp.diag(s) - jnp.outer(s, s)


def eigenvalue_sum(X: Array) -> Array:
    return jnp.trace(X)


def eigenvalue_sum_grad(X: Array) -> Array:
    return jnp.eye(X.shape[0], dtype=X.dtype)


def eigenvalue_product(X: Array) -> Array:
    return jnp.linalg.det(X)


def eigenvalue_product_grad(X: Array) -> Array:
    return jnp.linalg.det(X) * jnp.linalg.inv(X).T


MISSING_REGULARISER = (
    "The regulariser's gradient is missing: d/dU of (lambda/2)||U||_F^2 is lambda*U."
)
DOUBLED_REGULARISER = (
    "The regulariser's gradient is counted twice: with the factor 1/2, d/dU of "
    "(lambda/2)||U||_F^2 is lambda*U, not 2*lambda*U."
)


def _regulariser_mistakes(grad: Any, which: int) -> tuple[Mistake, ...]:
    def missing(U: Array, V: Array, Y: Array, lambd: float) -> Array:
        return grad(U, V, Y, lambd) - lambd * (U, V)[which]

    def doubled(U: Array, V: Array, Y: Array, lambd: float) -> Array:
        return grad(U, V, Y, lambd) + lambd * (U, V)[which]

    return (
        Mistake("missing_regulariser", missing, MISSING_REGULARISER.replace("U", "UV"[which])),
        Mistake("doubled_regulariser", doubled, DOUBLED_REGULARISER.replace("U", "UV"[which])),
    )


_FACTORISATION_ARGS = (
    Arg("U", ("n", "k")),
    Arg("V", ("k", "n")),
    Arg("Y", ("n", "n")),
    Arg("lambd", kind="scalar", low=0.1, high=2.0),
)
_LOGISTIC_ARGS = (Arg("w", ("n",)), Arg("X", ("m", "n")), Arg("y", ("m",), kind="labels"))

PROBLEMS = (
    Problem(
        id="p1_grad_u",
        title="Problem 1.1: gradient of J(U, V) with respect to U",
        args=_FACTORISATION_ARGS,
        objective=factorisation_loss,
        closed_form=factorisation_grad_u,
        argnum=0,
        mistakes=_regulariser_mistakes(factorisation_grad_u, 0),
    ),
    Problem(
        id="p1_grad_v",
        title="Problem 1.1: gradient of J(U, V) with respect to V",
        args=_FACTORISATION_ARGS,
        objective=factorisation_loss,
        closed_form=factorisation_grad_v,
        argnum=1,
        mistakes=_regulariser_mistakes(factorisation_grad_v, 1),
    ),
    Problem(
        id="p1_logistic_grad",
        title="Problem 1.2: gradient of the regularised logistic loss",
        args=_LOGISTIC_ARGS,
        objective=logistic_loss,
        closed_form=logistic_grad,
        mistakes=(
            Mistake(
                "missing_regulariser",
                lambda w, X, y: logistic_grad(w, X, y) - w,
                "The gradient of (1/2)||w||^2, which is w, is missing.",
            ),
        ),
    ),
    Problem(
        id="p1_logistic_hessian",
        title="Problem 1.2: Hessian of the regularised logistic loss",
        args=_LOGISTIC_ARGS,
        objective=logistic_loss,
        closed_form=logistic_hessian,
        derivative="hessian",
        mistakes=(
            Mistake(
                "missing_identity",
                lambda w, X, y: logistic_hessian(w, X, y) - jnp.eye(w.shape[0]),
                "The Hessian of (1/2)||w||^2, the identity matrix, is missing.",
            ),
        ),
    ),
    Problem(
        id="p1_chain_grad",
        title="Problem 1.3: gradient of g(x) = f(Ax + b) given grad f",
        args=(
            Arg("x", ("n",)),
            Arg("A", ("m", "n")),
            Arg("b", ("m",)),
            Arg("grad_f", kind="function", choices=("logcosh", "half_square", "softplus")),
        ),
        objective=composed,
        closed_form=composed_grad,
    ),
    Problem(
        id="p2_softmax_jacobian",
        title="Problem 2.1: Jacobian of softmax",
        args=(Arg("w", ("n",)),),
        objective=softmax,
        closed_form=softmax_jacobian,
        derivative="jacobian",
        hints={
            "large_inputs": "exp overflows for large entries: softmax(w) = softmax(w - max(w)), "
            "so subtract the maximum before exponentiating.",
        },
    ),
    Problem(
        id="p2_grad_eigsum",
        title="Problem 2.2a: gradient of the sum of eigenvalues",
        args=(Arg("X", ("n", "n")),),
        objective=eigenvalue_sum,
        closed_form=eigenvalue_sum_grad,
    ),
    Problem(
        id="p2_grad_eigprod",
        title="Problem 2.2b: gradient of the product of eigenvalues",
        args=(Arg("X", ("n", "n")),),
        objective=eigenvalue_product,
        closed_form=eigenvalue_product_grad,
    ),
)
