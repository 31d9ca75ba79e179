"""Hostile notebooks, one per threat: each is graded in bounded time with the expected status,
leaks nothing, leaves nothing running, changes no other result, and the honest problem in the
same notebook is still graded.

Every notebook answers p2_grad_eigprod honestly and attacks through p2_grad_eigsum.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from helpers import rubric_variant
from nbformat.v4 import new_code_cell, new_notebook

from grader.batch import BatchEvents, discover, grade_all
from grader.inputs import Secret
from grader.models import GradeResult
from grader.pipeline import GradeOptions, Grader
from grader.report import feedback_markdown, result_json, write_atomic
from grader.sandbox import processes_with

pytestmark = pytest.mark.slow  # starts workers, timers or JAX

SECRET = b"hostile-suite-secret-0123456789"
EXAMPLES = Path(__file__).resolve().parent.parent / "submissions_example"
# A sleep duration of this run alone: another suite on the machine cannot match it.
MARKER = f"4242.{secrets.randbelow(10**9):09d}"
HONEST = "def grad_eigprod(X):\n    return jnp.linalg.det(X) * jnp.linalg.inv(X).T\n"
HEADER = "import os, sys, time, signal, socket, subprocess\nimport numpy as np\nimport jax\nimport jax.numpy as jnp\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    secret_dir = root / "secret"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "key").write_bytes(SECRET)
    (secret_dir / "key").chmod(0o600)

    def speed_scored(data: dict[str, Any]) -> None:
        # Scored here (not in hw2), so that a timing cheat that worked would show in speed_score.
        data["problems"]["p2_grad_eigsum"]["points"]["speed"] = 0.5

    limits = {"time_limit_s": 3, "memory_mb": 1024}
    problems = ("p2_grad_eigsum", "p2_grad_eigprod")
    rubric_variant(root, "rubric.yaml", problems=problems, limits=limits, edit=speed_scored)
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
    """grad_eigsum that makes the worker's clocks run at `factor` of real time, then runs
    `body`."""
    return (
        "def grad_eigsum(X):\n    real = time.perf_counter\n"
        "    for name in ('grader.protocol', 'grader.stream', 'time'):\n"
        "        module = sys.modules.get(name)\n"
        f"        if module is not None and getattr(module, 'perf_counter', None) is real:\n"
        f"            module.perf_counter = lambda: real() * {factor}\n" + body
    )


# Each cheat wraps the same slow answer (SLOW_EYE): none may earn more speed points than it
# earns honestly (none: its ratio is far past zero_at), and none may crash the grading.
TIMING_CHEATS = [
    pytest.param(clock_scaled_by(0.001, SLOW_EYE), id="patched-clock"),
    pytest.param(clock_scaled_by(0.0, SLOW_EYE), id="clock-reports-zero"),
    pytest.param(
        "def grad_eigsum(X):\n    loop = sys.modules['grader.timed_loop']\n"
        "    loop.time_calls = lambda f, args, calls, block: loop.TimedCalls([1e-9] * calls, f(*args))\n"
        + SLOW_EYE,
        id="patched-timing-loop",
    ),
    pytest.param(
        "_memo = {}\ndef grad_eigsum(X):\n    key = np.asarray(X).tobytes()\n    if key not in _memo:\n"
        "        _memo[key] = slow(X)\n    return _memo[key]\n"
        "def slow(X):\n" + SLOW_EYE,
        id="memoised",
    ),
    pytest.param(
        # An answer cached under the input's direction: any rescaling of a seen input hits.
        "_memo = {}\ndef grad_eigsum(X):\n    X = np.asarray(X)\n    key = np.round(X / X.flat[0], 9).tobytes()\n"
        "    if key not in _memo:\n        _memo[key] = slow(X)\n    return _memo[key]\n"
        "def slow(X):\n" + SLOW_EYE,
        id="rescaling-memo",
    ),
    pytest.param(
        # At a round's first call, answer every input the round could derive from it.
        "_memo = {}\ndef grad_eigsum(X):\n    X = np.asarray(X)\n    if X.tobytes() not in _memo:\n"
        "        answer = slow(X)\n        for k in range(200):\n"
        "            _memo[((1.0 + 0.1 * ((k * 0.6180339887498949) % 1.0)) * X).tobytes()] = answer\n"
        "    return _memo[X.tobytes()]\n"
        "def slow(X):\n" + SLOW_EYE,
        id="predicted-round-inputs",
    ),
    pytest.param(
        # The work happens when the grader converts the result, after the call returned.
        "class Lazy:\n    def __init__(self, n):\n        self.n = n\n"
        "    def __array__(self, dtype=None, copy=None):\n        time.sleep(0.005)\n        return np.eye(self.n)\n"
        "def grad_eigsum(X):\n    if 'handle_timed_calls' in str([f.name for f in __import__('traceback').extract_stack()]):\n"
        "        return Lazy(X.shape[0])\n" + SLOW_EYE,
        id="lazy-__array__",
    ),
    pytest.param(
        # Answers instantly with garbage while being timed, honestly otherwise.
        "def grad_eigsum(X):\n    if 'handle_timed_calls' in str([f.name for f in __import__('traceback').extract_stack()]):\n"
        "        return jnp.zeros((X.shape[0], X.shape[0]))\n" + SLOW_EYE,
        id="wrong-while-timed",
    ),
    pytest.param(
        # The identity does not depend on the input: write answers for the next calls ahead,
        # so that they would seem to come back at once.
        "_ahead = []\ndef grad_eigsum(X):\n    import inspect\n"
        "    serving = [f.frame for f in inspect.stack() if 'write_fd' in f.frame.f_locals]\n"
        "    if serving and not _ahead:\n        _ahead.append(1)\n"
        "        data = np.eye(X.shape[0]).tobytes()\n"
        "        for _ in range(3):\n"
        "            os.write(serving[0].f_locals['write_fd'], len(data).to_bytes(8, 'big') + data)\n"
        + SLOW_EYE,
        id="replies-written-ahead",
    ),
    pytest.param(
        # Replaces the worker's timing handler with one that reports zero seconds.
        "def grad_eigsum(X):\n    server = sys.modules['grader.worker.server']\n"
        "    server.HANDLERS['timed_calls'] = lambda state, request, arrays: ({'ok': True, 'times': [0.0] * 50}, [])\n"
        + SLOW_EYE,
        id="zero-report-handler",
    ),
    pytest.param(
        # Writes a reply of the wrong size for every timed call.
        "class Length:\n    size = 8\n    def __init__(self, real):\n        self.real = real\n"
        "    def unpack(self, data):\n        return self.real.unpack(data)\n"
        "    def pack(self, n):\n        return self.real.pack(7 if n > 0 else n)\n"
        "def grad_eigsum(X):\n    stream = sys.modules['grader.stream']\n"
        "    if not isinstance(stream.LENGTH, Length):\n        stream.LENGTH = Length(stream.LENGTH)\n"
        + SLOW_EYE,
        id="malformed-reply",
    ),
]  # fmt: skip


@pytest.mark.parametrize("attack", TIMING_CHEATS)
def test_timing_cheats_earn_no_speed_points(
    grader: Grader, world: dict[str, Path], attack: str
) -> None:
    problem = grade(grader, world, "timing_cheat", attack).problems[0]
    assert problem.status == "passed" and problem.speed_score == 0
    assert problem.timing is None or problem.timing.flagged or problem.timing.ratio > 100
    assert problem.timing is None or problem.timing.review is None  # never an accusation


def test_the_same_answer_without_the_sleep_earns_speed_points(
    grader: Grader, world: dict[str, Path]
) -> None:
    # The check above can fail: this rubric gives eigsum's speed points to a fast answer.
    answer = "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])\n"
    problem = grade(grader, world, "timing_control", answer).problems[0]
    assert problem.speed_score > 0 and problem.timing is not None and not problem.timing.flagged


# A classmate graded beside this notebook in one -j 2 batch: a cell that is slow to parse, and an
# answer that tries to leave its core, take real-time priority, and keep both cores busy.
HOG = """
_started = []
def grad_eigprod(X):
    if not _started:
        _started.append(1)
        for attempt in (lambda: os.sched_setaffinity(0, set(range(os.cpu_count()))),
                        lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50)),
                        lambda: os.setpriority(os.PRIO_PROCESS, 0, -20)):
            try:
                attempt()
            except OSError:
                pass
        for _ in range(4):
            subprocess.Popen([sys.executable, '-c', 'while True: pass'])
    print('x' * 100_000)
    return jnp.linalg.det(X) * jnp.linalg.inv(X).T
"""
SLOW_TO_PARSE = "\n".join(f"value_{i} = [{i}, {i} + 1, ({i} * 2)]" for i in range(40_000))


@pytest.fixture(scope="module")
def classroom_grader(world: dict[str, Path]) -> Iterator[Grader]:
    """Problems that good.ipynb answers far inside full speed points: noise cannot move them."""
    kept = ("p1_grad_u", "p1_logistic_hessian", "p2_grad_eigprod")
    limits = {"time_limit_s": 5, "memory_mb": 2048}
    rubric = rubric_variant(world["root"], "classroom.yaml", problems=kept, limits=limits)
    grader = Grader(GradeOptions(rubric_path=rubric, secret=Secret(SECRET, hidden=True)))
    yield grader
    grader.close()


def verdicts(result: GradeResult) -> list[tuple[object, ...]]:
    return [
        (p.id, p.status, p.score, p.timing and p.timing.flagged, p.timing and p.timing.review)
        for p in result.problems
    ]


def test_an_attacker_in_the_same_batch_leaves_a_classmates_grade_alone(
    classroom_grader: Grader, world: dict[str, Path]
) -> None:
    folder = world["root"] / "classroom"
    folder.mkdir()
    shutil.copy(EXAMPLES / "good.ipynb", folder / "good.ipynb")
    cells = [HEADER, SLOW_TO_PARSE, HOG]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), folder / "attacker.ipynb")
    alone = classroom_grader.grade(folder / "good.ipynb")
    results: dict[str, GradeResult] = {}
    submissions = discover([folder])
    events = BatchEvents(graded=lambda s, r: results.update({s.student: r}))
    grade_all(classroom_grader, submissions, 2, events)
    assert verdicts(results["good"]) == verdicts(alone)
    assert alone.total == alone.max_total
    assert results["attacker"].status == "graded"  # its own answers may time out: its doing


def test_a_worker_cannot_leave_its_core_or_raise_its_priority(
    grader: Grader, world: dict[str, Path]
) -> None:
    if not grader.sandbox.layers.get("seccomp", "").startswith("active"):
        pytest.skip("this machine's sandbox lacks: seccomp")
    # The right answer only when every attempt was refused.
    attack = (
        "def grad_eigsum(X):\n    moved = []\n"
        "    for attempt in (lambda: os.sched_setaffinity(0, set(range(os.cpu_count()))),\n"
        "                    lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10)),\n"
        "                    lambda: os.setpriority(os.PRIO_PROCESS, 0, -5)):\n"
        "        try:\n            attempt()\n            moved.append(1)\n        except OSError:\n            pass\n"
        "    return jnp.eye(X.shape[0]) * (0.0 if moved else 1.0)\n"
    )
    assert statuses(grade(grader, world, "leave_core", attack))["p2_grad_eigsum"] == "passed"


# Autodiff reached through names no reading of the source resolves: the worker sees the
# differentiation run. Each answer would be right (the gradient of the trace is the identity).
AUTODIFF_DISGUISES = [
    pytest.param("jx = jax\ndef grad_eigsum(X):\n    return jx.grad(jnp.trace)(X)", id="module-alias"),
    pytest.param("def grad_eigsum(X, jax=jax):\n    return jax.grad(jnp.trace)(X)", id="parameter-named-jax"),
    pytest.param("from jax import *\ndef grad_eigsum(X):\n    return grad(jnp.trace)(X)", id="star-import"),
    pytest.param(
        "class Tools:\n    from jax import jacrev as d\ndef grad_eigsum(X):\n    return Tools.d(jnp.trace)(X)",
        id="import-in-class-body",
    ),
    pytest.param("def grad_eigsum(X):\n    return jax._src.api.grad(jnp.trace)(X)", id="private-path"),
    pytest.param("def grad_eigsum(X):\n    return getattr(jax, 'gr' + 'ad')(jnp.trace)(X)", id="getattr-built-name"),
    pytest.param("def grad_eigsum(X):\n    return __import__('jax').grad(jnp.trace)(X)", id="dunder-import"),
    pytest.param("def grad_eigsum(X):\n    return vars(jax)['grad'](jnp.trace)(X)", id="vars-of-jax"),
    pytest.param(
        "def grad_eigsum(X):\n    scope = {'jax': jax, 'jnp': jnp}\n"
        f"    exec(bytes.fromhex({b'answer = jax.grad(jnp.trace)'.hex()!r}).decode(), scope)\n"
        "    return scope['answer'](X)",
        id="exec-of-encoded-text",
    ),
    pytest.param(
        "import types\ndef grad_eigsum(X):\n"
        "    code = compile('def answer(X):\\n    return jax.jacfwd(jnp.trace)(X)', 'x', 'exec').co_consts[0]\n"
        "    return types.FunctionType(code, {'jax': jax, 'jnp': jnp})(X)",
        id="function-from-compile",
    ),
    pytest.param(
        # An honest-looking decoy that a class body rebinds at load time.
        "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])\n"
        "class _Swap:\n    globals()['grad_eigsum'] = jax.grad(jnp.trace)",
        id="decoy-rebound-at-load",
    ),
]  # fmt: skip


@pytest.mark.parametrize("attack", AUTODIFF_DISGUISES)
def test_autodiff_is_caught_by_what_runs(
    grader: Grader, world: dict[str, Path], attack: str
) -> None:
    result = grade(grader, world, "autodiff_disguised", attack)
    problem = result.problems[0]
    assert (problem.status, problem.score) == ("forbidden", 0), problem.feedback
    assert statuses(result)["p2_grad_eigprod"] == "passed"  # a fresh worker after it


def test_differentiation_while_loading_fails_and_the_honest_answer_stands(
    grader: Grader, world: dict[str, Path]
) -> None:
    attack = (
        "class Precompiled:\n    table = jax.grad(jnp.trace)(jnp.eye(3))\n"
        "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])"
    )
    result = grade(grader, world, "autodiff_at_load", attack)
    assert statuses(result) == {"p2_grad_eigsum": "passed", "p2_grad_eigprod": "passed"}
    assert any("differentiation ran while" in note.message for note in result.extraction)


def test_a_reply_larger_than_any_answer_is_refused_unread(
    grader: Grader, world: dict[str, Path]
) -> None:
    attack = "def grad_eigsum(X):\n    return np.ones(4 * 2**20)  # 32 MB, past the 16 MB an answer may have"
    result = grade(grader, world, "huge_reply", attack)
    problem = result.problems[0]
    assert problem.status == "error" and "more than the" in problem.cases[0].message
    assert statuses(result)["p2_grad_eigprod"] == "passed"


def test_processes_left_behind_do_not_sink_the_next_problem(
    grader: Grader, world: dict[str, Path]
) -> None:
    # Forks sleepers until the task limit stops it, then answers: the next problem's honest
    # code must still be able to start its threads.
    attack = (
        "def grad_eigsum(X):\n    for _ in range(2000):\n        try:\n            pid = os.fork()\n"
        "        except OSError:\n            break\n        if pid == 0:\n"
        f"            os.execvp('sleep', ['sleep', '{MARKER}'])\n"
        "    return jnp.eye(X.shape[0])"
    )
    result = grade(grader, world, "leftovers", attack)
    assert statuses(result)["p2_grad_eigprod"] == "passed"
    assert processes_with(MARKER) == []


def test_the_worker_cannot_list_the_compile_cache(grader: Grader, world: dict[str, Path]) -> None:
    if not grader.sandbox.layers.get("landlock", "").startswith("active"):
        pytest.skip("this machine's sandbox lacks: landlock")
    if not grader.worker_config.cache_dir:
        pytest.skip("compile caching is off")
    attack = (
        "def grad_eigsum(X):\n    folder = jax.config.jax_compilation_cache_dir\n"
        "    names = os.listdir(folder)\n    print(names)\n"
        "    return jnp.eye(X.shape[0]) * (0.0 if names else 1.0)"
    )
    problem = grade(grader, world, "list_cache", attack).problems[0]
    assert problem.status == "error" and "jit_" not in problem.output
    assert "Permission denied" in problem.cases[0].message


def test_root_workers_hold_no_capabilities(grader: Grader) -> None:
    assert grader.sandbox.protections["capabilities"]


DEEP = "def grad_eigsum(X):\n    return jnp.eye(X.shape[0])\n"


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param("def grad_eigsum(X):\n    return jax" + ".numpy" * 1500 + ".eye(X.shape[0])", id="attribute-chain"),
        pytest.param("helper = " + "lambda: " * 1500 + "None\n" + DEEP, id="lambda-chain"),
    ],
)  # fmt: skip
def test_deeply_nested_code_is_the_students_problem_not_the_graders(
    grader: Grader, world: dict[str, Path], attack: str
) -> None:
    result = grade(grader, world, "deep", attack)
    assert result.status == "graded"
    assert statuses(result)["p2_grad_eigprod"] == "passed"


def test_a_notebook_over_its_time_budget_says_which_problems_were_not_reached(
    world: dict[str, Path],
) -> None:
    def short_budget(data: dict[str, Any]) -> None:
        data["notebook_time_s"] = 4

    problems = ("p2_grad_eigsum", "p2_grad_eigprod")
    limits = {"time_limit_s": 3, "memory_mb": 1024}
    rubric = rubric_variant(
        world["root"], "budget.yaml", problems=problems, limits=limits, edit=short_budget
    )
    grader = Grader(GradeOptions(rubric_path=rubric, secret=Secret(SECRET, hidden=True)))
    try:
        slow = "def grad_eigsum(X):\n    time.sleep(2.5)\n    return jnp.eye(X.shape[0])"
        result = grade(grader, world, "over_budget", slow)
    finally:
        grader.close()
    eigprod = {p.id: p for p in result.problems}["p2_grad_eigprod"]
    assert eigprod.status == "timeout"
    assert eigprod.feedback[0].startswith("Not graded: the notebook's time budget (4 s) ran out")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda folder, secret: (folder / "evil.ipynb").symlink_to(secret), "a symbolic link", id="symlink-to-secret"),
        pytest.param(lambda folder, secret: os.mkfifo(folder / "pipe.ipynb"), "not a regular file", id="fifo"),
    ],
)  # fmt: skip
def test_a_submission_that_is_not_a_regular_file_is_refused_in_a_batch(
    grader: Grader, world: dict[str, Path], make: Any, reason: str
) -> None:
    folder = world["root"] / f"files-{secrets.token_hex(4)}"
    folder.mkdir()
    make(folder, world["secret"])
    results: dict[str, GradeResult] = {}
    events = BatchEvents(graded=lambda s, r: results.update({s.student: r}))
    grade_all(grader, discover([folder]), 1, events)
    (result,) = results.values()
    assert result.status == "invalid" and reason in result.errors[0]
    assert SECRET.decode() not in result_json(result)
