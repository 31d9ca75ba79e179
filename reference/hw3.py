"""Reference for a second assignment, "least squares, log-det and trace forms", written with
the same small API as hw2 to show it is general: each problem names its arguments, its
objective (the autodiff baseline derives from it), its closed form and known mistakes."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from grader.assignment import Arg, Mistake, Problem

Array = Any


def ridge_loss(x: Array, A: Array, b: Array, mu: float) -> Array:
    return 0.5 * jnp.sum((A @ x - b) ** 2) + 0.5 * mu * jnp.sum(x**2)


def ridge_grad(x: Array, A: Array, b: Array, mu: float) -> Array:
    return A.T @ (A @ x - b) + mu * x


def log_det(X: Array) -> Array:
    return jnp.linalg.slogdet(X)[1]


def log_det_grad(X: Array) -> Array:
    return jnp.linalg.inv(X).T


def trace_form(X: Array, A: Array) -> Array:
    return jnp.trace(X.T @ A @ X)


def trace_form_grad(X: Array, A: Array) -> Array:
    return (A + A.T) @ X


PROBLEMS = (
    Problem(
        id="ridge_grad",
        title="Gradient of (1/2)||Ax - b||^2 + (mu/2)||x||^2",
        args=(Arg("x", ("n",)), Arg("A", ("m", "n")), Arg("b", ("m",)), Arg("mu", kind="scalar")),
        objective=ridge_loss,
        closed_form=ridge_grad,
        mistakes=(
            Mistake(
                "missing_regulariser",
                lambda x, A, b, mu: A.T @ (A @ x - b),
                "The gradient of (mu/2)||x||^2, which is mu*x, is missing.",
            ),
        ),
    ),
    Problem(
        id="logdet_grad",
        title="Gradient of log det X for symmetric positive definite X",
        args=(Arg("X", ("n", "n"), kind="spd"),),
        objective=log_det,
        closed_form=log_det_grad,
        mistakes=(
            Mistake(
                "gradient_of_det",
                lambda X: jnp.linalg.det(X) * jnp.linalg.inv(X).T,
                "That is the gradient of det X. For log det X the chain rule divides it by "
                "det X, which leaves X^{-T}.",
            ),
        ),
    ),
    Problem(
        id="trace_form_grad",
        title="Gradient of tr(X^T A X) with respect to X",
        args=(Arg("X", ("n", "k")), Arg("A", ("n", "n"))),
        objective=trace_form,
        closed_form=trace_form_grad,
        mistakes=(
            Mistake(
                "assumed_symmetric",
                lambda X, A: 2 * A @ X,
                "2AX is the gradient only when A is symmetric; in general it is (A + A^T)X.",
            ),
        ),
    ),
)
