"""Lanes: each grading pinned to the least busy core, and the pinning undone afterwards."""

from __future__ import annotations

import os
import threading

import pytest

from grader.lanes import Lanes

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="this system cannot pin threads"
)


def test_a_lane_pins_the_grading_thread_to_one_core_and_restores_it() -> None:
    lanes = Lanes()
    before = os.sched_getaffinity(0)
    with lanes.take() as lane:
        assert lane.cpu is not None and os.sched_getaffinity(0) == {lane.cpu}
        assert lane.gradings == 1
    assert os.sched_getaffinity(0) == before
    assert lane.gradings == 0


def test_threads_started_in_a_lane_inherit_its_core() -> None:
    lanes = Lanes()
    seen: list[set[int]] = []
    with lanes.take() as lane:
        helper = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        helper.start()
        helper.join()
    assert seen == [{lane.cpu}]


def test_concurrent_gradings_take_different_lanes_while_cores_last() -> None:
    lanes = Lanes()
    if len(lanes.lanes) < 2:
        pytest.skip("one core only")
    with lanes.take() as first, lanes.take() as second:
        assert first.cpu != second.cpu
    with lanes.take() as again:
        assert again.gradings == 1


def test_on_a_gpu_all_lanes_share_one_gate() -> None:
    lanes = Lanes(one_gate=True)
    assert len({id(lane.gate) for lane in lanes.lanes}) == 1
    assert len({id(lane.gate) for lane in Lanes().lanes}) == len(Lanes().lanes)


def test_helpers_of_a_lone_grading_may_use_the_idle_cores() -> None:
    lanes = Lanes()
    with lanes.take() as lane:
        assert lanes.spare_cpus(lane) == lanes.all_cpus
        if len(lanes.lanes) > 1:
            with lanes.take() as other:
                assert lanes.spare_cpus(lane) == lanes.all_cpus - {other.cpu}
