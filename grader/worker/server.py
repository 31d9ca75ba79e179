"""The worker's request loop: load the student's source, answer calls and timed-call sessions."""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import select
import signal
import sys
import threading
import traceback
import types
import warnings
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import numpy as np

from grader import protocol, stream
from grader.errors import NotAnArray
from grader.jax_runtime import device_name, start_jax
from grader.messages import (
    ArgValue,
    CallError,
    CallReply,
    CallRequest,
    Hello,
    LoadProblem,
    LoadProblemKind,
    LoadReply,
    LoadRequest,
    SourceChunk,
    TimedCallsRequest,
    supplied_function,
)
from grader.timed_loop import collector_paused
from grader.worker.autodiff_watch import AutodiffWatch
from grader.worker.confine import confine
from grader.worker.limits import set_memory_limit

OUTPUT_CAP = 4000
MESSAGE_CAP = 500


def serve(config: dict[str, Any]) -> None:
    request_fd, reply_fd = int(config["request_fd"]), int(config["reply_fd"])
    _exit_when_grader_dies(request_fd)
    jax = _start_jax(config)
    state = WorkerState(jax, request_fd, reply_fd)
    state.watch.install()
    layers = confine(config, os.getcwd())
    protocol.send(reply_fd, Hello(jax.__version__, device_name(jax), layers).header())
    while True:
        try:
            request, arrays = protocol.receive(request_fd)
        except EOFError:
            os._exit(0)
        handler = HANDLERS.get(str(request.get("op")))
        if handler is None:
            protocol.send(reply_fd, {"ok": False, "message": f"unknown op {request.get('op')!r}"})
            continue
        reply = handler(state, request, arrays)
        if reply is not None:
            protocol.send(reply_fd, *reply)


def _exit_when_grader_dies(request_fd: int) -> None:
    """If the grader is killed (even by SIGKILL) its end of the pipe closes: end the worker and
    all it started, even while student code is stuck in a loop. As PID 1 of its namespace its
    exit kills the namespace; otherwise its process group goes with it."""
    exit_now, kill_group, poll_object = os._exit, os.killpg, select.poll()
    poll_object.register(request_fd, 0)  # POLLHUP and POLLERR are always reported

    def watch() -> None:
        poll_object.poll()
        with contextlib.suppress(OSError):
            kill_group(0, signal.SIGKILL)
        exit_now(1)

    threading.Thread(target=watch, name="grader-watchdog", daemon=True).start()


def _start_jax(config: dict[str, Any]) -> Any:
    # The grader's read-only cache refuses writes; that is the design, not the student's news.
    warnings.filterwarnings("ignore", message=".*persistent compilation cache.*")
    # The cache is read-only under Landlock: filled by the trusted warm-up, never by a student.
    jax = start_jax(str(config.get("platform", "cpu")), config.get("cache_dir") or None)
    _install_legacy_config_module(jax)
    return jax


def _install_legacy_config_module(jax: Any) -> None:
    """`from jax.config import config` was removed from JAX; seed notebooks still use it."""
    legacy = types.ModuleType("jax.config")
    legacy.config = jax.config  # type: ignore[attr-defined]
    legacy.update = jax.config.update  # type: ignore[attr-defined]
    sys.modules.setdefault("jax.config", legacy)


class _NoIPython:
    """Stands in for get_ipython() so leftover magics inside functions do nothing."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class WorkerState:
    def __init__(self, jax: Any, request_fd: int, reply_fd: int) -> None:
        self.jax = jax
        self.request_fd, self.reply_fd = request_fd, reply_fd
        self.module = types.ModuleType("__student__")
        self.module.__dict__["get_ipython"] = lambda: _NoIPython()
        sys.modules["__student__"] = self.module
        self.watch = AutodiffWatch()

    def function(self, name: str) -> Any:
        return self.module.__dict__.get(name)


class CappedText(io.StringIO):
    """stdout/stderr of student code: keeps the first OUTPUT_CAP characters, drops the rest."""

    def write(self, text: str) -> int:
        room = OUTPUT_CAP - self.tell()
        if room > 0:
            super().write(text[:room])
        return len(text)


def handle_load(state: WorkerState, header: dict[str, Any], _: list[np.ndarray]) -> Reply:
    request = LoadRequest.parse(header)
    problems = []
    captured = CappedText()
    with redirect_stdout(captured), redirect_stderr(captured), state.watch.loading():
        for chunk in request.chunks:
            problem = _run_chunk(state, chunk)
            if problem:
                problems.append(problem)
    callables = {name: _arity(state.function(name)) for name in request.candidates}
    found = {name: arity for name, arity in callables.items() if arity is not None}
    return LoadReply(found, tuple(problems), captured.getvalue()).header(), []


Reply = tuple[dict[str, Any], list[np.ndarray]]


def _run_chunk(state: WorkerState, chunk: SourceChunk) -> LoadProblem | None:
    padded = "\n" * (chunk.line - 1) + chunk.source
    filename = f"<code cell {chunk.cell + 1}>"
    try:
        exec(compile(padded, filename, "exec"), state.module.__dict__)
    except BaseException as error:  # student code may raise anything, SystemExit included
        kind: LoadProblemKind = "import_error" if chunk.is_import else "definition_error"
        return LoadProblem(chunk.cell, kind, _describe(error))
    return None


def _arity(function: Any) -> tuple[int, int] | None:
    """[min, max] positional arguments (max -1 for *args), or None when not callable."""
    if not callable(function) or isinstance(function, type):
        return None
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return (0, -1)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    return (len(required), -1 if variadic else len(positional))


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    if isinstance(error, NotAnArray):
        return str(error)
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MESSAGE_CAP else text[:MESSAGE_CAP] + "..."


def _argument_value(jnp: Any, value: ArgValue) -> Any:
    if isinstance(value, np.ndarray):
        return jnp.asarray(value, dtype=jnp.float64)
    if isinstance(value, str):
        return supplied_function(value, "gradient")
    return float(value)


NOT_DEFINED = CallReply(failure=CallError("NameError", "function not defined"))


def handle_call(state: WorkerState, header: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
    request = CallRequest.parse(header, arrays)
    function = state.function(request.function)
    if not callable(function):
        return NOT_DEFINED.frame()
    args = [_argument_value(state.jax.numpy, value) for value in request.args]
    set_memory_limit(request.memory_mb)
    captured = CappedText()
    before = state.watch.count
    try:
        with redirect_stdout(captured), redirect_stderr(captured):
            result = function(*args)
            array = _to_array(state.jax, result)
    except BaseException as error:  # anything the student's code raises is data
        failed = _failure(error, captured)
        if state.watch.count > before:
            failed["autodiff"] = True
        return failed, []
    autodiff = state.watch.count > before
    return CallReply(captured.getvalue(), arrays=(array,), autodiff=autodiff).frame()


def _failure(error: BaseException, captured: CappedText) -> dict[str, Any]:
    where = traceback.extract_tb(error.__traceback__)
    student_frames = [f for f in where if f.filename.startswith("<code cell")]
    location = ""
    if student_frames:
        frame = student_frames[-1]
        location = f"{frame.filename[1:-1]}, line {frame.lineno}, in {frame.name}"
    kind = "SystemExit" if isinstance(error, SystemExit) else type(error).__name__
    failure = CallError(kind, _describe(error), location)
    return CallReply(captured.getvalue(), failure).frame()[0]


def _to_array(jax: Any, result: Any) -> np.ndarray:
    """A plain numeric ndarray of the student's result, or NotAnArray saying what it was."""
    if isinstance(result, tuple | list | dict) or result is None:
        raise NotAnArray(f"returned {type(result).__name__}, expected a single array")
    result = jax.block_until_ready(result)
    array = np.array(result, subok=False, copy=True)
    if array.dtype.kind not in protocol.ALLOWED_DTYPE_KINDS:
        raise NotAnArray(f"returned values of dtype {array.dtype}, expected float64 numbers")
    return array


def handle_timed_calls(
    state: WorkerState, header: dict[str, Any], _: list[np.ndarray]
) -> Reply | None:
    """A timing session (grader.stream): the trusted side sends each call's inputs and times it
    by its own clock until the output's bytes are back; nothing here is believed about time."""
    request = TimedCallsRequest.parse(header)
    function = state.function(request.function)
    if not callable(function):
        return NOT_DEFINED.frame()
    layout = stream.Layout.from_json(dict(request.layout))
    supplied = [
        None if name is None else supplied_function(name, "gradient") for name in request.supplied
    ]
    set_memory_limit(request.memory_mb)
    jnp = state.jax.numpy

    def call(values: list[np.ndarray]) -> np.ndarray:
        numeric = iter(values)
        args = [given if given is not None else _argument(jnp, next(numeric)) for given in supplied]
        array = _to_array(state.jax, function(*args))
        if array.dtype.kind not in "biuf" or array.shape != layout.output_shape:
            raise NotAnArray(
                f"returned {array.dtype} values of shape {array.shape}, expected float64 of "
                f"shape {layout.output_shape}"
            )
        return array

    protocol.send(state.reply_fd, {"ok": True})
    sink = CappedText()
    with collector_paused(), redirect_stdout(sink), redirect_stderr(sink):
        calls = stream.serve(
            state.request_fd, state.reply_fd, layout, call, lambda e: _failure(e, sink)
        )
    return None if calls is None else ({"ok": True, "calls": calls}, [])


def _argument(jnp: Any, value: np.ndarray) -> Any:
    return float(value) if value.ndim == 0 else jnp.asarray(value, dtype=jnp.float64)


def handle_exit(state: WorkerState, request: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
    # Skips XLA's teardown, which costs 1-3 s per worker for nothing.
    os._exit(0)


HANDLERS: dict[str, Callable[[WorkerState, dict[str, Any], list[np.ndarray]], Reply | None]] = {
    "load": handle_load,
    "call": handle_call,
    "timed_calls": handle_timed_calls,
    "exit": handle_exit,
}
