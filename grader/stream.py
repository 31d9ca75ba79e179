"""The timed-call stream: one call at a time, raw float64 bytes each way, timed by trusted code.

A timing session opens with a `timed_calls` request (a protocol frame) that fixes the layout:
the shape of every numeric argument and of the output. Then, per call:

- trusted side -> worker: an 8-byte big-endian length, then the float64 bytes of every numeric
  argument in order (a scalar is a 0-d block);
- worker -> trusted side: the same length field and exactly the output's float64 bytes, or
  FAILED followed by a protocol frame that says what went wrong (the session ends there).

A length of END from the trusted side closes the session; the worker answers with a frame. The
trusted side's clock runs from writing a call's first byte to reading its output's last, so the
worker cannot report its own time, see the next input before it answers, or defer work past the
clock. This module is imported by the worker too, so it needs only numpy.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader import protocol

LENGTH = struct.Struct(">q")
END = 0
FAILED = -1
ITEM = np.dtype(np.float64).itemsize


class StreamFailed(Exception):
    """The worker ended the session: its frame says why (the function raised, say)."""

    def __init__(self, header: dict[str, Any]) -> None:
        super().__init__(str(header.get("message", "the timed call failed")))
        self.header = header


@dataclass(frozen=True)
class Layout:
    """Shapes of a session's numeric arguments (None for a supplied function, passed by name
    once per session) and of the output."""

    shapes: tuple[tuple[int, ...] | None, ...]
    output_shape: tuple[int, ...]

    def input_bytes(self) -> int:
        return sum(math.prod(shape) * ITEM for shape in self.shapes if shape is not None)

    def output_bytes(self) -> int:
        return math.prod(self.output_shape) * ITEM

    def to_json(self) -> dict[str, Any]:
        return {
            "shapes": [None if s is None else list(s) for s in self.shapes],
            "output_shape": list(self.output_shape),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Layout:
        shapes = tuple(None if s is None else _shape(s) for s in data["shapes"])
        return cls(shapes, _shape(data["output_shape"]))


def _shape(value: Any) -> tuple[int, ...]:
    shape = tuple(int(size) for size in value)
    if any(size < 0 for size in shape):
        raise ValueError(f"bad shape {shape}")
    return shape


def encode_call(values: Sequence[np.ndarray | float | None]) -> bytes:
    """One call's request: the length field and every numeric argument's float64 bytes."""
    blocks = [
        np.ascontiguousarray(value, dtype=np.float64).tobytes()
        for value in values
        if value is not None
    ]
    payload = b"".join(blocks)
    return LENGTH.pack(len(payload)) + payload


def exchange(
    write_fd: int, read_fd: int, request: bytes, layout: Layout, deadline: float
) -> np.ndarray:
    """One call, trusted side: send its request, return the output it answers with. Raises
    StreamFailed, TimeoutError past `deadline` (time.monotonic), EOFError, or FrameError for a
    reply of any other length."""
    _write_all(write_fd, request)
    read = protocol.reader(read_fd, deadline)
    (length,) = LENGTH.unpack(read(LENGTH.size))
    if length == FAILED:
        header, _ = protocol.receive(read_fd, deadline, max_arrays=0)
        raise StreamFailed(header)
    if length != layout.output_bytes():
        raise protocol.FrameError(
            f"a timed call's reply announced {length} bytes, expected {layout.output_bytes()}"
        )
    return np.frombuffer(read(length), dtype=np.float64).reshape(layout.output_shape)


def end(write_fd: int) -> None:
    _write_all(write_fd, LENGTH.pack(END))


def serve(
    read_fd: int,
    write_fd: int,
    layout: Layout,
    call: Callable[[list[np.ndarray]], np.ndarray],
    failure: Callable[[BaseException], dict[str, Any]],
) -> int | None:
    """Worker side: answer calls until END and return how many. `call` gets the numeric arguments
    (read-only views) and returns the output as float64 of the layout's output shape; whatever it
    raises is sent as FAILED with the frame `failure` makes of it, and ends the session (None)."""
    buffer = bytearray(layout.input_bytes())
    calls = 0
    while True:
        (length,) = LENGTH.unpack(_read_exactly(read_fd, LENGTH.size))
        if length == END:
            return calls
        if length != len(buffer):
            raise protocol.FrameError(f"a call of {length} bytes, expected {len(buffer)}")
        _read_into(read_fd, buffer)
        try:
            output = np.ascontiguousarray(call(_split(buffer, layout)), dtype=np.float64)
        except BaseException as error:  # the student's code may raise anything
            _write_all(write_fd, LENGTH.pack(FAILED))
            protocol.send(write_fd, failure(error))
            return None
        _write_all(write_fd, LENGTH.pack(output.nbytes))
        _write_all(write_fd, output.data.cast("B"))
        calls += 1


def _split(buffer: bytearray, layout: Layout) -> list[np.ndarray]:
    values: list[np.ndarray] = []
    offset = 0
    for shape in layout.shapes:
        if shape is None:
            continue
        count = math.prod(shape)
        values.append(np.frombuffer(buffer, np.float64, count, offset).reshape(shape))
        offset += count * ITEM
    return values


def _read_exactly(fd: int, size: int) -> bytes:
    data = bytearray(size)
    _read_into(fd, data)
    return bytes(data)


def _read_into(fd: int, buffer: bytearray) -> None:
    view = memoryview(buffer)
    while view:
        count = os.readv(fd, [view])
        if count == 0:
            raise EOFError("peer closed the channel")
        view = view[count:]


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
