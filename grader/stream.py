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

import array
import fcntl
import math
import os
import select
import struct
import termios
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader import protocol
from grader.errors import FrameError, StreamFailed

LENGTH = struct.Struct(">q")
END = 0
FAILED = -1
ITEM = np.dtype(np.float64).itemsize


# Every argument block starts on a 64-byte boundary of a buffer that starts on one: XLA's CPU
# client then takes such an array without copying it, in every process alike. Otherwise some
# workers copy their inputs and others do not, and the same answer's time differs between
# workers.
ALIGN = 64


@dataclass(frozen=True)
class Layout:
    """Shapes of a session's numeric arguments (None for a supplied function, passed by name
    once per session) and of the output."""

    shapes: tuple[tuple[int, ...] | None, ...]
    output_shape: tuple[int, ...]

    def blocks(self) -> list[tuple[int, tuple[int, ...]]]:
        """(offset, shape) of every numeric argument in a call's payload."""
        found, offset = [], 0
        for shape in self.shapes:
            if shape is not None:
                found.append((offset, shape))
                offset += -(-math.prod(shape) * ITEM // ALIGN) * ALIGN
        return found

    def input_bytes(self) -> int:
        blocks = self.blocks()
        if not blocks:
            return 0
        offset, shape = blocks[-1]
        return offset + math.prod(shape) * ITEM

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


def encode_call(values: Sequence[np.ndarray | float | None], layout: Layout) -> bytearray:
    """One call's request: the length field and every numeric argument's float64 bytes, each
    at its block's offset."""
    request = bytearray(LENGTH.size + layout.input_bytes())
    request[: LENGTH.size] = LENGTH.pack(layout.input_bytes())
    numeric = [value for value in values if value is not None]
    for (offset, shape), value in zip(layout.blocks(), numeric, strict=True):
        start = LENGTH.size + offset
        view = np.frombuffer(request, np.float64, math.prod(shape), start).reshape(shape)
        view[...] = value
    return request


def aligned_buffer(size: int) -> memoryview:
    """`size` writable bytes starting on an ALIGN-byte boundary."""
    raw = np.zeros(size + ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + size].data


def exchange(
    write_fd: int, read_fd: int, request: bytearray, layout: Layout, deadline: float
) -> np.ndarray:
    """One call, trusted side: send its request, return the output it answers with. Raises
    StreamFailed, TimeoutError past `deadline` (time.monotonic), EOFError, or FrameError for a
    reply of any other length, or one sent while part of the request was still unread: an
    answer written without the inputs."""
    protocol.write_all(write_fd, request)
    read = protocol.reader(read_fd, deadline)
    (length,) = LENGTH.unpack(read(LENGTH.size))
    if length == FAILED:
        header, _ = protocol.receive(read_fd, deadline, protocol.NO_ARRAYS)
        raise StreamFailed(header)
    if _unread(write_fd):
        raise FrameError("the worker answered a timed call before reading its inputs")
    if length != layout.output_bytes():
        raise FrameError(
            f"a timed call's reply announced {length} bytes, expected {layout.output_bytes()}"
        )
    return np.frombuffer(read(length), dtype=np.float64).reshape(layout.output_shape)


def expect_silence(read_fd: int) -> None:
    """Trusted side, before a call: the worker has nothing to say until it is asked."""
    if _pending(read_fd):
        raise FrameError("the worker sent data between timed calls")


def _pending(fd: int) -> bool:
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def _unread(write_fd: int) -> int:
    """Bytes written to a pipe that its reader has not read yet."""
    count = array.array("i", [0])
    fcntl.ioctl(write_fd, termios.FIONREAD, count)
    return count[0]


def end(write_fd: int) -> None:
    protocol.write_all(write_fd, LENGTH.pack(END))


def serve(
    read_fd: int,
    write_fd: int,
    layout: Layout,
    call: Callable[[list[np.ndarray]], np.ndarray],
    failure: Callable[[BaseException], dict[str, Any]],
) -> int | None:
    """Worker side: answer calls until END and return how many. `call` gets the numeric arguments
    (views into one receive buffer, rewritten by the next call) and returns the output as float64
    of the layout's output shape; whatever it raises is sent as FAILED with the frame `failure`
    makes of it, and ends the session (None)."""
    buffer = aligned_buffer(layout.input_bytes())
    calls = 0
    while True:
        (length,) = LENGTH.unpack(protocol.reader(read_fd, None)(LENGTH.size))
        if length == END:
            return calls
        if length != len(buffer):
            raise FrameError(f"a call of {length} bytes, expected {len(buffer)}")
        _read_into(read_fd, buffer)
        try:
            output = np.ascontiguousarray(call(_split(buffer, layout)), dtype=np.float64)
        except BaseException as error:  # the student's code may raise anything
            protocol.write_all(write_fd, LENGTH.pack(FAILED))
            protocol.send(write_fd, failure(error))
            return None
        protocol.write_all(write_fd, LENGTH.pack(output.nbytes))
        protocol.write_all(write_fd, output.data.cast("B"))
        calls += 1


def _split(buffer: memoryview, layout: Layout) -> list[np.ndarray]:
    return [
        np.frombuffer(buffer, np.float64, math.prod(shape), offset).reshape(shape)
        for offset, shape in layout.blocks()
    ]


def _read_into(fd: int, buffer: bytearray | memoryview) -> None:
    view = memoryview(buffer)
    while view:
        count = os.readv(fd, [view])
        if count == 0:
            raise EOFError("peer closed the channel")
        view = view[count:]
