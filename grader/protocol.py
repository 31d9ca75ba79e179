"""Framing between the grader's side and a worker: a JSON header plus raw .npy arrays.

Nothing is ever pickled in either direction: the worker runs hostile code, so whatever it sends
is parsed as JSON and as .npy bytes whose header is checked (numeric dtype, exact size) before a
single element is read. This module is imported by the worker too, so it needs only numpy.

Frame: 4-byte big-endian JSON length, the JSON object, then for each of its `n_arrays`
arrays an 8-byte big-endian length followed by that many bytes in .npy format.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.ast_lock import AST_LOCK
from grader.errors import FrameError

MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_ARRAY_BYTES = 1024 * 1024 * 1024
MAX_ARRAYS = 64
ALLOWED_DTYPE_KINDS = "biufc"

Header = dict[str, Any]


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


@dataclass(frozen=True)
class ReplyLimit:
    """What a reply may announce, checked before any of it is buffered: a worker could
    otherwise make the grader read gigabytes."""

    arrays: int = MAX_ARRAYS
    array_bytes: int = MAX_ARRAY_BYTES  # all arrays together


ANY_REPLY = ReplyLimit()
NO_ARRAYS = ReplyLimit(arrays=0, array_bytes=0)


def receive(
    fd: int, deadline: float | None = None, limit: ReplyLimit = ANY_REPLY
) -> tuple[Header, list[np.ndarray]]:
    """Read one frame within `limit`; raise TimeoutError past `deadline` (time.monotonic) and
    EOFError on close."""
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
    if not isinstance(n_arrays, int) or not 0 <= n_arrays <= limit.arrays:
        raise FrameError(f"bad array count {n_arrays!r} (at most {limit.arrays})")
    arrays = []
    budget = limit.array_bytes
    for _ in range(n_arrays):
        (length,) = struct.unpack(">Q", read(8))
        if length > budget:
            raise FrameError(f"an array of {length} bytes, more than the {budget} it may have")
        budget -= length
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
