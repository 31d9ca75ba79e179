"""The environment every timing process starts with."""

from __future__ import annotations

import pytest

from grader import jax_runtime


@pytest.mark.parametrize(
    ("given", "flags", "tunables"),
    [
        pytest.param({}, list(jax_runtime.CPU_XLA_FLAGS), list(jax_runtime.STEADY_MALLOC_TUNABLES),
                     id="nothing-given"),
        pytest.param(
            {"XLA_FLAGS": "--xla_dump_to=/tmp/d", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"},
            ["--xla_dump_to=/tmp/d", *jax_runtime.CPU_XLA_FLAGS],
            ["glibc.malloc.arena_max=2", *jax_runtime.STEADY_MALLOC_TUNABLES],
            id="given-kept",
        ),
        pytest.param(
            {"XLA_FLAGS": " ".join(jax_runtime.CPU_XLA_FLAGS),
             "GLIBC_TUNABLES": ":".join(jax_runtime.STEADY_MALLOC_TUNABLES)},
            list(jax_runtime.CPU_XLA_FLAGS),
            list(jax_runtime.STEADY_MALLOC_TUNABLES),
            id="not-repeated",
        ),
    ],
)  # fmt: skip
def test_timing_environment(given: dict[str, str], flags: list[str], tunables: list[str]) -> None:
    env = jax_runtime.timing_environment({"PATH": "/bin", **given})
    assert env["XLA_FLAGS"].split() == flags
    assert env["GLIBC_TUNABLES"].split(":") == tunables
    assert env["PATH"] == "/bin"
    assert {env[name] for name in jax_runtime.ONE_THREAD_ENV} == {"1"}
