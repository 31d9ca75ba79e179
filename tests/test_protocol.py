"""The wire format: arrays round-trip exactly; anything that is not plain numeric is refused."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
import time

import numpy as np
import pytest

from grader import protocol
from grader.errors import FrameError


@pytest.fixture
def pipe():  # type: ignore[no-untyped-def]
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with contextlib.suppress(OSError):
            os.close(fd)


@pytest.mark.parametrize(
    "array",
    [np.arange(6.0).reshape(2, 3), np.float64(3.5) * np.ones(()), np.asfortranarray(np.eye(3)),
     np.array([1, 2], dtype=np.int32), np.array([1 + 2j])],
    ids=["matrix", "scalar", "fortran", "int32", "complex"],
)  # fmt: skip
def test_round_trip(pipe, array: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    read, write = pipe
    protocol.send(write, {"op": "x", "value": 1.5}, [array])
    header, arrays = protocol.receive(read, time.monotonic() + 5)
    assert header == {"op": "x", "value": 1.5, "n_arrays": 1}
    np.testing.assert_array_equal(arrays[0], array)
    assert arrays[0].dtype == array.dtype


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _npy(np.array([object()], dtype=object), allow_pickle=True),
            "is not a plain numeric type",
        ),
        (_npy(np.array(["a"])), "is not a plain numeric type"),
        (_npy(np.zeros(4))[:-8], "has 24 bytes"),
        (pickle.dumps(np.zeros(3)), "bad .npy header"),
    ],
    ids=["object-dtype", "strings", "truncated", "pickle"],
)
def test_decode_refuses(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        protocol.decode_array(data)


def test_oversized_header_refused(pipe) -> None:  # type: ignore[no-untyped-def]
    read, write = pipe
    os.write(write, struct.pack(">I", protocol.MAX_JSON_BYTES + 1))
    with pytest.raises(FrameError, match="exceeds"):
        protocol.receive(read, time.monotonic() + 5)


def test_deadline(pipe) -> None:  # type: ignore[no-untyped-def]
    read, _ = pipe
    with pytest.raises(TimeoutError):
        protocol.receive(read, time.monotonic() + 0.05)


def test_closed_channel(pipe) -> None:  # type: ignore[no-untyped-def]
    read, write = pipe
    os.close(write)
    with pytest.raises(EOFError):
        protocol.receive(read, time.monotonic() + 5)


GIB = 2**30
SMALL = _npy(np.zeros(100))


@pytest.mark.parametrize(
    ("first", "announced", "limit", "message"),
    [
        pytest.param(
            None, 64 * [GIB], protocol.ReplyLimit(arrays=1), "bad array count 64", id="64-arrays"
        ),
        pytest.param(
            None,
            [GIB],
            protocol.ReplyLimit(arrays=1, array_bytes=16 * 2**20),
            "an array of 1073741824 bytes, more than the 16777216",
            id="one-huge-array",
        ),
        pytest.param(
            SMALL,
            [len(SMALL), 200],
            protocol.ReplyLimit(arrays=2, array_bytes=len(SMALL) + 100),
            "an array of 200 bytes, more than the 100",
            id="together-too-large",
        ),
        pytest.param(None, [128], protocol.NO_ARRAYS, "bad array count 1", id="none-expected"),
    ],
)
def test_a_reply_is_refused_on_what_it_announces_before_it_is_read(
    pipe, first: bytes | None, announced: list[int], limit: protocol.ReplyLimit, message: str
) -> None:  # type: ignore[no-untyped-def]
    """Only announcements are written where a refused array would be: reading it would wait on
    the pipe until the deadline."""
    read, write = pipe
    body = json.dumps({"n_arrays": len(announced)}).encode()
    frame = struct.pack(">I", len(body)) + body
    if first is not None:
        frame += struct.pack(">Q", len(first)) + first
    frame += struct.pack(">Q", announced[-1])
    os.write(write, frame)
    with pytest.raises(FrameError, match=message):
        protocol.receive(read, time.monotonic() + 5, limit)
