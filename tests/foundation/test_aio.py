"""The stage-wide freeze of long-lived objects: on while a stage runs, undone after."""

from __future__ import annotations

import gc
import weakref

import pytest

from doctune.foundation.aio import long_lived_frozen


def test_objects_of_before_the_stage_are_frozen_while_it_runs_and_handed_back_after() -> None:
    assert gc.get_freeze_count() == 0
    with long_lived_frozen():
        assert gc.get_freeze_count() > 0
        made_inside = [[] for _ in range(100)]  # new objects are collected as usual
        assert all(gc.is_tracked(x) for x in made_inside)
    assert gc.get_freeze_count() == 0


def test_a_failing_stage_still_hands_everything_back() -> None:
    with pytest.raises(RuntimeError), long_lived_frozen():
        raise RuntimeError("stage failed")
    assert gc.get_freeze_count() == 0


def test_a_cycle_that_dies_after_the_stage_is_collected() -> None:
    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle only the collector frees
    gone = weakref.ref(a)
    with long_lived_frozen():
        pass
    del a, b
    gc.collect()
    assert gone() is None
