"""The worker's garbage-collector settings: start-up objects frozen, full collections rare."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agencybus.faust_worker import GC_THRESHOLD, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_freezes_what_exists_and_raises_the_thresholds() -> None:
    survivor = {"built": "at start-up"}
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLD
    assert gc.get_freeze_count() > 0
    assert not any(o is survivor for o in gc.get_objects())  # frozen objects are not walked
    assert GC_THRESHOLD[0] > 700 and GC_THRESHOLD[1] * GC_THRESHOLD[2] > 100  # rarer than defaults
