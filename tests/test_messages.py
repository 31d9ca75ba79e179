"""The worker vocabulary: arguments round-trip, and replies from a hostile worker are parsed
without believing any field."""

from __future__ import annotations

import numpy as np
import pytest

from grader.messages import CallReply, LoadReply, decode_args, encode_args


def test_call_arguments_round_trip() -> None:
    args = (np.arange(6.0).reshape(2, 3), 0.25, "logcosh", np.ones(2))
    specs, arrays = encode_args(args)
    assert [spec["kind"] for spec in specs] == ["array", "scalar", "function", "array"]
    decoded = decode_args(specs, arrays)
    np.testing.assert_array_equal(decoded[0], args[0])
    assert decoded[1:3] == [0.25, "logcosh"]
    np.testing.assert_array_equal(decoded[3], args[3])


@pytest.mark.parametrize(
    ("header", "callables", "kinds"),
    [
        pytest.param({"callables": {"f": [1, 2]}, "problems": []}, {"f": (1, 2)}, [], id="plain"),
        pytest.param({"callables": {"f": ["1", 2], "g": [1]}}, {}, [], id="bad-arities-dropped"),
        pytest.param({"callables": "all"}, {}, [], id="not-a-mapping"),
        pytest.param(
            {"problems": [{"cell": 2, "kind": "regrade_to_full_marks", "message": "x"},
                          {"cell": -1, "kind": "import_error", "message": 7}]},
            {}, [("import_error", None, "")], id="forged-note-kind-dropped",
        ),
    ],
)  # fmt: skip
def test_a_load_reply_believes_no_field(
    header: dict[str, object],
    callables: dict[str, tuple[int, int]],
    kinds: list[tuple[object, ...]],
) -> None:
    reply = LoadReply.parse(header)
    assert dict(reply.callables) == callables
    assert [(p.kind, p.cell, p.message) for p in reply.problems] == kinds


@pytest.mark.parametrize(
    ("header", "arrays", "failure"),
    [
        pytest.param({"ok": True, "output": "hi"}, [np.ones(2)], None, id="answer"),
        pytest.param({"ok": True}, [], ("Error", "the function failed"), id="ok-without-array"),
        pytest.param({"ok": False, "error_type": 3, "message": "x" * 10**6}, [],
                     ("Error", "x" * 4000 + "..."), id="capped-and-defaulted"),
    ],
)  # fmt: skip
def test_a_call_reply_is_an_answer_or_a_failure(
    header: dict[str, object], arrays: list[np.ndarray], failure: tuple[str, str] | None
) -> None:
    reply = CallReply.parse(header, arrays)
    found = None if reply.failure is None else (reply.failure.error_type, reply.failure.message)
    assert found == failure
    assert len(reply.arrays) == (1 if failure is None else 0)


def test_a_load_reply_lists_a_bounded_number_of_notes() -> None:
    flood = [{"kind": "definition_error", "cell": 0, "message": "x" * 5000}] * 10_000
    reply = LoadReply.parse({"problems": flood})
    assert len(reply.problems) == 100
    assert all(len(problem.message) <= 4003 for problem in reply.problems)


@pytest.mark.parametrize(
    ("header", "autodiff"),
    [
        pytest.param({"ok": True, "autodiff": True}, True, id="reported"),
        pytest.param({"ok": True, "autodiff": "yes"}, False, id="only-true-counts"),
        pytest.param({"ok": False, "autodiff": True}, True, id="on-a-failure-too"),
    ],
)
def test_a_call_reply_carries_whether_autodiff_ran(
    header: dict[str, object], autodiff: bool
) -> None:
    assert CallReply.parse(header, [np.ones(2)] if header["ok"] else []).autodiff == autodiff
