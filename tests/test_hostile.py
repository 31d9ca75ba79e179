"""Hostile notebooks, one per threat: each is graded in bounded time with the expected status,
leaks nothing, leaves nothing running, changes no other result, and the honest problem in the
same notebook is still graded.

Every notebook answers p2_grad_eigprod honestly and attacks through p2_grad_eigsum.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from grader.inputs import Secret
from grader.models import GradeResult
from grader.pipeline import GradeOptions, Grader
from grader.report import feedback_markdown, result_json, write_atomic
from grader.rubric import default_rubric_path
from grader.sandbox import processes_with

SECRET = b"hostile-suite-secret-0123456789"
MARKER = "4242.424242"  # a sleep duration no other process on the machine uses
HONEST = "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T\n"
HEADER = "import os, sys, time, signal, socket, subprocess\nimport numpy as np\nimport jax\nimport jax.numpy as jnp\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    secret_dir = root / "secret"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "key").write_bytes(SECRET)
    (secret_dir / "key").chmod(0o600)
    data = yaml.safe_load(default_rubric_path().read_text())
    data["reference"] = str((default_rubric_path().parent / data["reference"]).resolve())
    data["defaults"]["limits"] = {"time_limit_s": 3, "memory_mb": 1024}
    data["problems"] = {k: data["problems"][k] for k in ("p2_grad_eigsum", "p2_grad_eigprod")}
    # Scored here (not in hw2), so that a timing cheat that worked would show in speed_score.
    data["problems"]["p2_grad_eigsum"]["points"]["speed"] = 0.5
    (root / "rubric.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return {
        "root": root,
        "secret": secret_dir / "key",
        "out": root / "out",
        "rubric": root / "rubric.yaml",
    }


@pytest.fixture(scope="module")
def grader(world: dict[str, Path]) -> Iterator[Grader]:
    options = GradeOptions(
        rubric_path=world["rubric"],
        secret=Secret(SECRET, hidden=True),
        protected_paths=(world["out"], world["secret"]),
    )
    grader = Grader(options)
    yield grader
    grader.close()


def grade(grader: Grader, world: dict[str, Path], name: str, attack: str) -> GradeResult:
    path = world["root"] / f"{name}.ipynb"
    cells = [HEADER, HONEST, attack]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    result = grader.grade(path)
    write_atomic(world["out"] / f"{name}.json", result_json(result))
    write_atomic(world["out"] / f"{name}.md", feedback_markdown(result))
    return result


def statuses(result: GradeResult) -> dict[str, str]:
    return {p.id: p.status for p in result.problems}


def no_secret_anywhere(world: dict[str, Path], result: GradeResult) -> bool:
    texts = [result_json(result), feedback_markdown(result)]
    texts += [p.read_text() for p in world["out"].iterdir() if p.is_file()]
    return not any(SECRET.decode() in text for text in texts)


THREATS = [
    pytest.param("loop", "def grad_eigsum(X):\n    while True:\n        pass", "timeout", id="endless-loop"),
    pytest.param("hard_exit", "def grad_eigsum(X):\n    os._exit(0)", "error", id="os-exit"),
    pytest.param("soft_exit", "def grad_eigsum(X):\n    sys.exit(0)", "error", id="sys-exit"),
    pytest.param("memory", "def grad_eigsum(X):\n    return np.ones((1 << 31,)) + X.sum()", "error", id="memory-hog"),
    pytest.param(
        "fork",
        f"def grad_eigsum(X):\n    for _ in range(20):\n        subprocess.Popen(['sleep', '{MARKER}'], start_new_session=True)\n"
        "    return jnp.eye(X.shape[0])",
        "passed", id="fork-sleepers",
    ),
    pytest.param(
        "double_fork",
        f"def grad_eigsum(X):\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        f"            os.execvp('sleep', ['sleep', '{MARKER}'])\n        os._exit(0)\n    return jnp.eye(X.shape[0])",
        "passed", id="daemonised-grandchild",
    ),
    pytest.param(
        "read_env",
        "def grad_eigsum(X):\n    print(dict(os.environ))\n    for pid in range(1, 4000):\n"
        "        try:\n            print(open(f'/proc/{pid}/environ').read())\n        except OSError:\n            pass\n"
        "    return jnp.eye(X.shape[0])",
        "passed", id="read-environment",
    ),
    pytest.param(
        "import_reference",
        "def grad_eigsum(X):\n    import reference.hw2 as ref\n    return ref.eigenvalue_sum_grad(X)",
        "error", id="import-reference",
    ),
    pytest.param(
        "import_grader",
        "def grad_eigsum(X):\n    from grader.inputs import load_secret\n    return jnp.eye(X.shape[0])",
        "error", id="import-grader",
    ),
    pytest.param(
        "patch_compare",
        "def grad_eigsum(X):\n    np.allclose = lambda *a, **k: True\n    np.linalg.norm = lambda *a, **k: 0.0\n"
        "    jnp.allclose = lambda *a, **k: True\n    return jnp.zeros_like(X)",
        "wrong", id="patch-comparison",
    ),
    pytest.param(
        "kill_parent",
        "def grad_eigsum(X):\n    for pid in [os.getppid(), 1]:\n        try:\n            os.kill(pid, signal.SIGKILL)\n"
        "        except OSError:\n            pass\n    os.killpg(0, signal.SIGTERM)\n    return jnp.eye(X.shape[0])",
        None, id="kill-parent",
    ),
    pytest.param(
        "flood",
        "def grad_eigsum(X):\n    print('x' * 10_000_000)\n    os.write(1, b'y' * 50_000_000)\n    return jnp.eye(X.shape[0])",
        "passed", id="flood-stdout",
    ),
    pytest.param(
        "subclass",
        "class Liar(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
        "def grad_eigsum(X):\n    return np.zeros(X.shape).view(Liar)",
        "wrong", id="ndarray-subclass",
    ),
    pytest.param(
        "array_protocol",
        "class Fake:\n    def __array__(self, dtype=None, copy=None):\n        return np.zeros((3, 3))\n"
        "def grad_eigsum(X):\n    return Fake()",
        "wrong", id="__array__-object",
    ),
    pytest.param("objects", "def grad_eigsum(X):\n    return np.array([None, 1], dtype=object)", "error", id="object-dtype"),
    pytest.param(
        "tracer",
        "leaked = []\ndef grad_eigsum(X):\n    jax.jit(lambda y: leaked.append(y) or y)(X)\n    return leaked[0]",
        "error", id="leaked-tracer",
    ),
    pytest.param(
        "autodiff",
        "from jax import grad as g\ndef grad_eigsum(X):\n    return g(jnp.trace)(X)",
        "forbidden", id="autodiff",
    ),
]  # fmt: skip


# What the sandbox must hold for an attack to fail as expected. Each hangs on kernel features
# (Landlock, namespaces, seccomp) that a machine may lack: matgrade then warns, and `--require`
# refuses to grade; the test says which protection is missing instead of failing.
PROTECTIONS_NEEDED = {
    "kill_parent": ("signal",),
    "import_reference": ("read_secret",),
    "import_grader": ("read_secret",),
}


def skip_unless_protected(grader: Grader, *protections: str) -> None:
    missing = [name for name in protections if not grader.sandbox.protections.get(name)]
    if missing:
        pytest.skip(f"this machine's sandbox lacks: {', '.join(missing)}")


@pytest.mark.parametrize(("name", "attack", "status"), THREATS)
def test_threat(
    grader: Grader, world: dict[str, Path], name: str, attack: str, status: str | None
) -> None:
    skip_unless_protected(grader, *PROTECTIONS_NEEDED.get(name, ()))
    result = grade(grader, world, name, attack)
    assert result.status == "graded"
    if status is not None:
        assert statuses(result)["p2_grad_eigsum"] == status
    assert statuses(result)["p2_grad_eigprod"] == "passed"
    assert no_secret_anywhere(world, result)
    assert processes_with(MARKER) == []
    assert len(result.problems[0].output) <= 2100


def test_secret_file_and_results_folder_untouchable(grader: Grader, world: dict[str, Path]) -> None:
    skip_unless_protected(grader, "read_secret", "write")
    before = grade(
        grader, world, "bystander", "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])"
    )
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in world["out"].iterdir()}
    attack = (
        "def grad_eigsum(X):\n"
        f"    for target in [{str(world['out'] / 'bystander.json')!r}, {str(world['out'] / 'planted.json')!r}]:\n"
        "        try:\n            open(target, 'w').write('{}')\n        except OSError as error:\n            print(error)\n"
        f"    try:\n        print(open({str(world['secret'])!r}).read())\n    except OSError as error:\n        print(error)\n"
        "    return jnp.eye(X.shape[0])"
    )
    result = grade(grader, world, "writer", attack)
    assert before.status == result.status == "graded"
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in world["out"].iterdir()}
    assert {k: v for k, v in after.items() if not k.startswith("writer")} == files
    assert "Permission denied" in result.problems[0].output
    assert no_secret_anywhere(world, result)


def test_network_to_loopback_listener_never_arrives(grader: Grader, world: dict[str, Path]) -> None:
    skip_unless_protected(grader, "tcp", "udp")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    attack = (
        "def grad_eigsum(X):\n    try:\n"
        f"        socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'hello')\n"
        "    except OSError as error:\n        print(error)\n"
        f"    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {port}))\n"
        "    return jnp.eye(X.shape[0])"
    )
    result = grade(grader, world, "network", attack)
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    assert statuses(result)["p2_grad_eigprod"] == "passed"


def test_forbidden_feedback_names_the_call(grader: Grader, world: dict[str, Path]) -> None:
    attack = "import jax as j\ndef helper(X):\n    return j.jacrev(jnp.trace)(X)\ndef grad_eigsum(X):\n    return helper(X)"
    problem = grade(grader, world, "autodiff_helper", attack).problems[0]
    assert (problem.status, problem.score) == ("forbidden", 0)
    assert problem.feedback[0].startswith(
        "Uses automatic differentiation: jax.jacrev (code cell 3, line 3, in helper)"
    )


SLOW_EYE = "    time.sleep(0.005)  # ~500x the autodiff baseline: no speed points when honest\n    return jnp.eye(X.shape[0])\n"


def clock_scaled_by(factor: float, body: str) -> str:
    """grad_eigsum that makes the worker's timing clock run at `factor` of real time, then runs
    `body`."""
    return (
        "def grad_eigsum(X):\n    clock = sys.modules['grader.protocol']\n    real = time.perf_counter\n"
        f"    if clock.perf_counter is real:\n        clock.perf_counter = lambda: real() * {factor}\n"
        + body
    )


TIMING_CHEATS = [
    pytest.param(
        clock_scaled_by(0.001, SLOW_EYE), "was the clock patched?", id="patched-clock",
    ),
    pytest.param(
        # Every fourth call's end reads its start: one call a round reported as taking no time,
        # the sum still honest enough.
        "_clock = {'reads': 0, 'start': 0.0}\n"
        "def _stalling():\n    read = _clock['reads']\n    _clock['reads'] += 1\n"
        "    if read % 2 == 0:\n        _clock['start'] = time.perf_counter()\n        return _clock['start']\n"
        "    return _clock['start'] if (read // 2) % 4 == 3 else time.perf_counter()\n"
        "def grad_eigsum(X):\n    sys.modules['grader.protocol'].perf_counter = _stalling\n" + SLOW_EYE,
        None, id="clock-stalling-once-a-round",
    ),
    pytest.param(
        "_memo = {}\ndef grad_eigsum(X):\n    key = np.asarray(X).tobytes()\n    if key not in _memo:\n"
        "        _memo.clear()\n        _memo[key] = slow(X)\n    return _memo[key]\n"
        "def slow(X):\n" + SLOW_EYE,
        None, id="memoised",
    ),
    pytest.param(
        "def grad_eigsum(X):\n    server = sys.modules['grader.worker.server']\n"
        "    server.HANDLERS['time'] = lambda state, request, arrays: ({'ok': True, 'times': [1e-6] * request['calls']}, [])\n"
        + SLOW_EYE,
        "no result came back", id="fake-timing-handler",
    ),
]  # fmt: skip


def test_a_clock_slowed_within_the_sum_check_is_held_by_the_parents_clock(
    grader: Grader, world: dict[str, Path]
) -> None:
    # Every call reported at 0.4 of its time keeps the sum over REPORTED_SHARE of the parent's
    # clock; that clock still holds the fastest call at CLOCK_SHARE (0.5) of the 50 ms a call
    # sleeps. Long calls, so that a round's fixed costs (up to 2 ms) cannot blur the two.
    attack = clock_scaled_by(0.4, "    time.sleep(0.05)\n    return jnp.eye(X.shape[0])\n")
    timing = grade(grader, world, "slowed_clock", attack).problems[0].timing
    assert timing is not None and timing.flagged is None
    assert timing.student_s >= 0.5 * 0.05 * 0.9


@pytest.mark.parametrize(("attack", "reason"), TIMING_CHEATS)
def test_timing_cheats_earn_no_speed_points(
    grader: Grader, world: dict[str, Path], attack: str, reason: str | None
) -> None:
    problem = grade(grader, world, "timing_cheat", attack).problems[0]
    assert problem.status == "passed"
    assert problem.timing is not None and problem.speed_score == 0
    if reason is None:  # not caught, simply measured as slow as it is
        assert problem.timing.flagged is None and problem.timing.ratio > 100
    else:
        assert problem.timing.flagged is not None and reason in problem.timing.flagged
