"""Hidden inputs: every value derives from HMAC(secret, submission, problem, family, case).

The submission key names the student and the notebook's digest (pipeline.submission_key), so the
same secret and notebook always give the same inputs (grades are reproducible), any change to the
notebook gives new ones (printed inputs cannot be answered by hard-coding), and without the
secret they cannot be predicted. Shapes come from the rubric and are the same for the class.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.assignment import Arg, Problem
from grader.errors import UsageError
from grader.messages import ArgValue
from grader.rubric import TIMING_FAMILY, CaseFamily

SECRET_ENV = "MATGRADE_SECRET"
PUBLIC_SECRET = b"matgrade-public-default-secret"


@dataclass(frozen=True)
class Secret:
    key: bytes
    hidden: bool


@dataclass(frozen=True)
class Case:
    """One hidden input: the argument values and the sizes they were drawn at."""

    family: str
    index: int
    sizes: Mapping[str, int]
    args: tuple[ArgValue, ...]


def load_secret(secret_file: Path | None) -> Secret:
    """From --secret-file, else $MATGRADE_SECRET, else the public default (inputs not hidden)."""
    if secret_file is not None:
        try:
            key = secret_file.read_bytes().strip()
        except OSError as error:
            raise UsageError(f"{secret_file}: cannot read secret file: {error.strerror}") from error
        if not key:
            raise UsageError(f"{secret_file}: secret file is empty")
        return Secret(key, hidden=True)
    from_env = os.environ.get(SECRET_ENV, "").strip()
    if from_env:
        return Secret(from_env.encode(), hidden=True)
    return Secret(PUBLIC_SECRET, hidden=False)


def secret_fingerprint(secret: bytes) -> str:
    """Tells whether two runs used the same secret, and nothing usable about it: a slow key
    derivation (PBKDF2, 200,000 rounds), so guessing a weak secret from it costs that per guess."""
    derived = hashlib.pbkdf2_hmac("sha256", secret, b"matgrade secret fingerprint", 200_000)
    return derived[:8].hex()


def case_seed(secret: bytes, *parts: str | int) -> int:
    message = "\x1f".join(str(part) for part in parts).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:16], "big")


def make_case(
    secret: bytes, student: str, problem: Problem, family: CaseFamily, index: int
) -> Case:
    sizes = family.sizes[index % len(family.sizes)]
    rng = np.random.default_rng(case_seed(secret, student, problem.id, family.name, index))
    args = tuple(draw_arg(arg, sizes, family, rng) for arg in problem.args)
    return Case(family=family.name, index=index, sizes=sizes, args=args)


def make_timing_case(
    secret: bytes, student: str, problem: Problem, sizes: Mapping[str, int], round_: int
) -> Case:
    """The input a timing round checks the answer on first (at the timing size), and the
    baseline's round is timed on."""
    return make_call_cases(timing_key(secret, student, problem.id, round_), problem, sizes, 1)[0]


def timing_key(secret: bytes, student: str, problem_id: str, round_: int) -> bytes:
    """What a timing round's inputs derive from: the trusted timer draws each of its calls'
    inputs from it, so the grader hands over this key and never the secret."""
    message = "\x1f".join((student, problem_id, TIMING_FAMILY, str(round_))).encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def make_call_cases(
    key: bytes, problem: Problem, sizes: Mapping[str, int], calls: int
) -> list[Case]:
    """The inputs of a round's timed calls: independent random data drawn afresh for each call
    (never derived from another call's input), so nothing about one can be known before it is
    sent. Uniform values: drawing them for every call costs a third of normal ones (grad_u's
    inputs at n=300, k=100: 0.6 against 1.7 ms), and a timing needs the shapes, not the
    distribution."""
    family = CaseFamily(name=TIMING_FAMILY, count=1, sizes=[dict(sizes)], distribution="uniform")
    rng = np.random.default_rng(case_seed(key, "calls"))
    return [
        Case(
            TIMING_FAMILY, call, sizes, tuple(draw_arg(a, sizes, family, rng) for a in problem.args)
        )
        for call in range(calls)
    ]


def draw_arg(
    arg: Arg, sizes: Mapping[str, int], family: CaseFamily, rng: np.random.Generator
) -> ArgValue:
    shape = arg.concrete_shape(sizes)
    if arg.kind == "scalar":
        return float(rng.uniform(arg.low, arg.high))
    if arg.kind == "function":
        return str(arg.choices[int(rng.integers(len(arg.choices)))])
    if arg.kind == "labels":
        return rng.choice(np.array([-1.0, 1.0]), size=shape)
    draw: Structure = STRUCTURED.get(arg.kind, _general)
    values = draw(_entries(rng, family, shape), family)
    return np.asarray(values, dtype=np.float64)


def _entries(rng: np.random.Generator, family: CaseFamily, shape: tuple[int, ...]) -> np.ndarray:
    if family.distribution == "uniform":
        return rng.uniform(-1.0, 1.0, size=shape)
    return rng.standard_normal(size=shape)


def _general(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    if family.symmetric and z.ndim == 2 and z.shape[0] == z.shape[1]:
        z = (z + z.T) / 2
    return z * family.scale + family.shift


def _spd(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    n = z.shape[0]
    return np.asarray(family.scale * (z @ z.T / n + np.eye(n)) + abs(family.shift) * np.eye(n))


def _orthogonal(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    q, r = np.linalg.qr(z)
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)  # makes Q unique, and uniformly distributed
    return np.asarray(family.scale * q * signs)


def _probability(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    e = np.exp(family.scale * z - np.max(family.scale * z))
    return np.asarray(e / e.sum())


def _diagonal(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    return np.diag(np.diag(z) * family.scale + family.shift)


def _symmetric(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    return np.asarray((z + z.T) / 2 * family.scale + family.shift)


def _lower_triangular(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    return np.tril(z * family.scale + family.shift)


def _positive(z: np.ndarray, family: CaseFamily) -> np.ndarray:
    return np.asarray(family.scale * np.exp(z) + abs(family.shift))


Structure = Callable[[np.ndarray, CaseFamily], np.ndarray]
STRUCTURED: dict[str, Structure] = {
    "diagonal": _diagonal,
    "symmetric": _symmetric,
    "spd": _spd,
    "orthogonal": _orthogonal,
    "lower_triangular": _lower_triangular,
    "positive": _positive,
    "probability": _probability,
}
