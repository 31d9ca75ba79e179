"""Messages between the grader and its worker: a JSON header plus raw .npy arrays.

Nothing is ever pickled in either direction: the worker runs hostile code, so whatever it sends
is parsed as JSON and as .npy bytes whose header is checked (numeric dtype, exact size) before a
single element is read. This module is imported by the worker too, so it needs only numpy.

Frame: 4-byte big-endian JSON length, the JSON object, then for each of its `n_arrays`
arrays an 8-byte big-endian length followed by that many bytes in .npy format.
"""

from __future__ import annotations

import gc
import io
import json
import os
import select
import struct
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import Any, NamedTuple

import numpy as np

from grader.ast_lock import AST_LOCK

MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_ARRAY_BYTES = 1024 * 1024 * 1024
MAX_ARRAYS = 64
ALLOWED_DTYPE_KINDS = "biufc"

Header = dict[str, Any]


class FrameError(Exception):
    """A frame that breaks the protocol: oversized, truncated, or of a forbidden dtype."""


def encode_array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # np.require keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d).
    np.lib.format.write_array(buffer, np.require(array, requirements="C"), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    """Parse .npy bytes from an untrusted sender; only plain numeric arrays get through."""
    stream = io.BytesIO(data)
    try:
        with AST_LOCK:  # numpy reads the header with ast.literal_eval
            shape, fortran, dtype = _read_header(stream)
    except (ValueError, SyntaxError, RecursionError) as error:
        raise FrameError(f"bad .npy header: {error}") from error
    if dtype.hasobject or dtype.kind not in ALLOWED_DTYPE_KINDS or dtype.fields is not None:
        raise FrameError(f"array dtype {dtype} is not a plain numeric type")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    payload = data[stream.tell() :]
    if len(payload) != count * dtype.itemsize:
        raise FrameError(f"array of shape {shape} and dtype {dtype} has {len(payload)} bytes")
    array = np.frombuffer(payload, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C")


def _read_header(stream: io.BytesIO) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream, max_header_size=10000)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream, max_header_size=10000)
    raise FrameError(f"unsupported .npy version {version}")


def send(fd: int, header: Header, arrays: Sequence[np.ndarray] = ()) -> None:
    body = json.dumps({**header, "n_arrays": len(arrays)}, allow_nan=True).encode()
    parts = [struct.pack(">I", len(body)), body]
    for array in arrays:
        encoded = encode_array(array)
        parts += [struct.pack(">Q", len(encoded)), encoded]
    write_all(fd, b"".join(parts))


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def receive(
    fd: int, deadline: float | None = None, max_arrays: int = MAX_ARRAYS
) -> tuple[Header, list[np.ndarray]]:
    """Read one frame of at most `max_arrays` arrays; raise TimeoutError past `deadline`
    (time.monotonic) and EOFError on close."""
    read = reader(fd, deadline)
    (json_length,) = struct.unpack(">I", read(4))
    if json_length > MAX_JSON_BYTES:
        raise FrameError(f"header of {json_length} bytes exceeds {MAX_JSON_BYTES}")
    try:
        header = json.loads(read(json_length))
    except (ValueError, RecursionError) as error:
        raise FrameError(f"header is not valid JSON ({type(error).__name__})") from error
    if not isinstance(header, dict):
        raise FrameError("header is not a JSON object")
    n_arrays = header.get("n_arrays", 0)
    if not isinstance(n_arrays, int) or not 0 <= n_arrays <= max_arrays:
        raise FrameError(f"bad array count {n_arrays!r}")
    arrays = []
    for _ in range(n_arrays):
        (length,) = struct.unpack(">Q", read(8))
        if length > MAX_ARRAY_BYTES:
            raise FrameError(f"array of {length} bytes exceeds {MAX_ARRAY_BYTES}")
        arrays.append(decode_array(read(length)))
    return header, arrays


def reader(fd: int, deadline: float | None) -> Callable[[int], bytes]:
    """A function that reads exactly n bytes from `fd`, waiting until `deadline` at most."""

    def read_exactly(size: int) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            if deadline is not None:
                _wait_readable(fd, deadline)
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                raise EOFError("peer closed the channel")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    return read_exactly


def _wait_readable(fd: int, deadline: float) -> None:
    """Return once `fd` has data. An answer already there counts even past the deadline: a
    grader thread held up (another grading's work holding the GIL) must not call it late."""
    while True:
        left = max(deadline - time.monotonic(), 0.0)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            return
        if left <= 0:
            raise TimeoutError("no answer before the deadline")


def encode_args(args: Sequence[np.ndarray | float | str]) -> tuple[list[Header], list[np.ndarray]]:
    """Call arguments as JSON specs plus arrays: arrays by index, scalars by value, supplied
    functions by name."""
    specs: list[Header] = []
    arrays: list[np.ndarray] = []
    for value in args:
        if isinstance(value, np.ndarray):
            specs.append({"kind": "array", "index": len(arrays)})
            arrays.append(value)
        elif isinstance(value, str):
            specs.append({"kind": "function", "name": value})
        else:
            specs.append({"kind": "scalar", "value": float(value)})
    return specs, arrays


def decode_args(specs: Sequence[Header], arrays: Sequence[np.ndarray]) -> list[Any]:
    """encode_args reversed: arrays, floats and supplied functions' names."""
    kinds: dict[str, Callable[[Header], Any]] = {
        "array": lambda spec: arrays[int(spec["index"])],
        "scalar": lambda spec: float(spec["value"]),
        "function": lambda spec: str(spec["name"]),
    }
    return [kinds[str(spec["kind"])](spec) for spec in specs]


def varied_input(base: Any, call: int) -> Any:
    """The input of the baseline's timed call number `call`: every call sees different values
    (one multiplication, cheap next to the call), as a student's calls do. Call 0 is `base`."""
    return (1.0 + 0.1 * ((call * 0.6180339887498949) % 1.0)) * base


class TimedCalls(NamedTuple):
    times: list[float]  # each call's seconds
    last_output: Any


def time_calls(
    function: Callable[..., Any], args: Sequence[Any], calls: int, block: Callable[[Any], Any]
) -> TimedCalls:
    """How trusted code is timed in its own process (the autodiff baseline, check-rubric's
    reference): `calls` calls, each on fresh inputs (the arrays among `args` varied by
    varied_input outside the timed span) and blocked until ready, with the garbage collector off
    as in timeit (a collection inside one call is noise, not its cost)."""
    times: list[float] = []
    result = None
    with collector_paused():
        for call in range(calls):
            call_args = block([varied_input(a, call) if hasattr(a, "shape") else a for a in args])
            start = perf_counter()
            result = block(function(*call_args))
            times.append(perf_counter() - start)
    return TimedCalls(times, result)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector off while calls are timed, as in timeit: a collection inside one
    call is noise, not its cost."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


# Student code and the baseline both run on one thread per process, XLA's and LAPACK's (OpenBLAS,
# which jaxlib's linear algebra calls). With thread pools, an op split across both cores of a
# busy machine waits for a descheduled or spinning helper thread: whole rounds of a 0.15 ms det
# took 15 ms, and ratios swung with whatever else ran. One thread per process also lets -j N
# workers share N cores without taking each other's. Read when the libraries load: set in the
# environment a process starts with.
CPU_XLA_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")
ONE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# On a GPU, JAX takes 75% of the card's memory per process at start-up; the grader, the timer and
# the workers share one card, so each takes only what it uses.
GPU_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}

# glibc gives freed blocks over 128 KiB back to the kernel (mmap'd blocks when freed, the heap's
# top by trimming), so eager code faulted its intermediates in again on every call: grad_u on a
# 300x100 U took ~400 page faults and 1.5-1.7 ms per call instead of none and 0.87 ms, and
# which processes and phases paid depended on the heap's history. Freed memory stays in the
# process instead (still under its memory limits). Read once, when a process starts.
STEADY_MALLOC_TUNABLES = (
    "glibc.malloc.mmap_threshold=33554432",
    "glibc.malloc.trim_threshold=1073741824",
)


# XLA's CPU client runs each computation on an executor thread while Python goes on; on one
# pinned core that overlaps nothing and costs two context switches per dispatch, and whether the
# caller or the executor ran first varied by round and by process: the same softmax Jacobian
# answer (four eager ops, n=40) took 85 us in some rounds and 105 us in others, so its ratio
# spread 15-17% across a class. Inline: 65-66 us, no switches, rounds within 2%; the jitted
# baseline 10 us instead of 17-21 (benchmarks/dispatch.py). Read when JAX's CPU backend starts.
SYNC_CPU_DISPATCH = ("jax_cpu_enable_async_dispatch", False)


def timing_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a process that runs timed code: one compute thread, freed memory kept. Flags
    and tunables already there are kept."""
    flags = _merged(env.get("XLA_FLAGS", "").split(), CPU_XLA_FLAGS)
    tunables = _merged(env.get("GLIBC_TUNABLES", "").split(":"), STEADY_MALLOC_TUNABLES)
    return {
        **env,
        **ONE_THREAD_ENV,
        "XLA_FLAGS": " ".join(flags),
        "GLIBC_TUNABLES": ":".join(tunables),
    }


def _merged(given: list[str], wanted: Sequence[str]) -> list[str]:
    kept = [item for item in given if item]
    return kept + [item for item in wanted if item not in kept]


# Functions the grader hands to a student's function as an argument (e.g. "grad f" for the
# chain rule problem). They cannot cross the process boundary as code, so both sides build them
# from a name: the parent uses `value` in objectives, the worker passes `gradient` to students.
SUPPLIED_FUNCTIONS = ("logcosh", "half_square", "softplus")


def supplied_function(name: str, part: str) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp

    values: dict[str, Callable[[Any], Any]] = {
        "logcosh": lambda y: jnp.sum(jnp.logaddexp(y, -y) - jnp.log(2.0)),
        "half_square": lambda y: 0.5 * jnp.sum(y * y),
        "softplus": lambda y: jnp.sum(jnp.logaddexp(y, 0.0)),
    }
    gradients: dict[str, Callable[[Any], Any]] = {
        "logcosh": jnp.tanh,
        "half_square": lambda y: y,
        "softplus": jax.nn.sigmoid,
    }
    table = values if part == "value" else gradients
    if name not in table:
        raise KeyError(
            f"unknown supplied function {name!r}; known: {', '.join(SUPPLIED_FUNCTIONS)}"
        )
    return table[name]
