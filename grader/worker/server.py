"""The worker's request loop: load the student's source, call and time its functions."""

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
from grader.worker.confine import confine
from grader.worker.limits import set_memory_limit

OUTPUT_CAP = 4000
MESSAGE_CAP = 500


def serve(config: dict[str, Any]) -> None:
    request_fd, reply_fd = int(config["request_fd"]), int(config["reply_fd"])
    _exit_when_grader_dies(request_fd)
    jax = _start_jax(config)
    device = _device_name(jax)
    state = WorkerState(jax, request_fd, reply_fd)
    layers = confine(config, os.getcwd())
    hello = {"ok": True, "jax": jax.__version__, "device": device, "layers": layers}
    protocol.send(reply_fd, hello)
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
    os.environ["JAX_PLATFORMS"] = str(config.get("platform", "cpu"))
    os.environ["JAX_ENABLE_X64"] = "1"
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update(*protocol.SYNC_CPU_DISPATCH)
    if config.get("cache_dir"):
        # Read-only under Landlock: filled by the trusted warm-up, never by a student.
        jax.config.update("jax_compilation_cache_dir", str(config["cache_dir"]))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _install_legacy_config_module(jax)
    return jax


def _install_legacy_config_module(jax: Any) -> None:
    """`from jax.config import config` was removed from JAX; seed notebooks still use it."""
    legacy = types.ModuleType("jax.config")
    legacy.config = jax.config  # type: ignore[attr-defined]
    legacy.update = jax.config.update  # type: ignore[attr-defined]
    sys.modules.setdefault("jax.config", legacy)


def _device_name(jax: Any) -> str:
    device = jax.devices()[0]
    return f"{device.platform}:{getattr(device, 'device_kind', '')}".rstrip(":")


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

    def function(self, name: str) -> Any:
        return self.module.__dict__.get(name)


class CappedText(io.StringIO):
    """stdout/stderr of student code: keeps the first OUTPUT_CAP characters, drops the rest."""

    def write(self, text: str) -> int:
        room = OUTPUT_CAP - self.tell()
        if room > 0:
            super().write(text[:room])
        return len(text)


def handle_load(state: WorkerState, request: dict[str, Any], _: list[np.ndarray]) -> Reply:
    problems = []
    captured = CappedText()
    with redirect_stdout(captured), redirect_stderr(captured):
        for chunk in request["chunks"]:
            problem = _run_chunk(state, chunk)
            if problem:
                problems.append(problem)
    callables = {name: _arity(state.function(name)) for name in request.get("candidates", [])}
    found = {name: arity for name, arity in callables.items() if arity is not None}
    return {"ok": True, "problems": problems, "callables": found, "output": captured.getvalue()}, []


Reply = tuple[dict[str, Any], list[np.ndarray]]


def _run_chunk(state: WorkerState, chunk: dict[str, Any]) -> dict[str, Any] | None:
    padded = "\n" * (int(chunk["line"]) - 1) + str(chunk["source"])
    filename = f"<code cell {int(chunk['cell']) + 1}>"
    try:
        exec(compile(padded, filename, "exec"), state.module.__dict__)
    except BaseException as error:  # student code may raise anything, SystemExit included
        kind = "import_error" if chunk.get("is_import") else "definition_error"
        return {"cell": chunk["cell"], "kind": kind, "message": _describe(error)}
    return None


def _arity(function: Any) -> list[int] | None:
    """[min, max] positional arguments (max -1 for *args), or None when not callable."""
    if not callable(function) or isinstance(function, type):
        return None
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return [0, -1]
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    return [len(required), -1 if variadic else len(positional)]


class NotAnArray(TypeError):
    """The student's function returned something that is not one numeric array."""


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    if isinstance(error, NotAnArray):
        return str(error)
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MESSAGE_CAP else text[:MESSAGE_CAP] + "..."


def _build_args(
    state: WorkerState, specs: list[dict[str, Any]], arrays: list[np.ndarray]
) -> list[Any]:
    jnp = state.jax.numpy
    values: list[Any] = []
    for spec in specs:
        if spec["kind"] == "array":
            values.append(jnp.asarray(arrays[spec["index"]], dtype=jnp.float64))
        elif spec["kind"] == "scalar":
            values.append(float(spec["value"]))
        else:
            values.append(protocol.supplied_function(spec["name"], "gradient"))
    return values


def handle_call(state: WorkerState, request: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
    function = state.function(str(request["function"]))
    if not callable(function):
        return {"ok": False, "error_type": "NameError", "message": "function not defined"}, []
    args = _build_args(state, request["args"], arrays)
    set_memory_limit(int(request.get("memory_mb", 4096)))
    captured = CappedText()
    try:
        with redirect_stdout(captured), redirect_stderr(captured):
            result = function(*args)
            array = _to_array(state.jax, result)
    except BaseException as error:  # anything the student's code raises is data
        return _failure(error, captured), []
    header = {"ok": True, "output": captured.getvalue()}
    return header, [array]


def _failure(error: BaseException, captured: CappedText) -> dict[str, Any]:
    where = traceback.extract_tb(error.__traceback__)
    student_frames = [f for f in where if f.filename.startswith("<code cell")]
    location = ""
    if student_frames:
        frame = student_frames[-1]
        location = f"{frame.filename[1:-1]}, line {frame.lineno}, in {frame.name}"
    return {
        "ok": False,
        "error_type": "SystemExit" if isinstance(error, SystemExit) else type(error).__name__,
        "message": _describe(error),
        "location": location,
        "output": captured.getvalue(),
    }


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
    state: WorkerState, request: dict[str, Any], _: list[np.ndarray]
) -> Reply | None:
    """A timing session (grader.stream): the trusted side sends each call's inputs and times it
    by its own clock until the output's bytes are back; nothing here is believed about time."""
    function = state.function(str(request["function"]))
    if not callable(function):
        return {"ok": False, "error_type": "NameError", "message": "function not defined"}, []
    layout = stream.Layout.from_json(request["layout"])
    supplied = [
        None if name is None else protocol.supplied_function(str(name), "gradient")
        for name in request["supplied"]
    ]
    set_memory_limit(int(request.get("memory_mb", 4096)))
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
    with protocol.collector_paused(), redirect_stdout(sink), redirect_stderr(sink):
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
