"""The faust internals agencybus.faust_adapter relies on still exist with the shape it uses."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import aiokafka
import faust
import pytest
from faust.stores.rocksdb import Store as RocksDBStore
from faust.transport.consumer import ThreadDelegateConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from agencybus import faust_adapter

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_faust_is_the_tested_minor_version_and_pyproject_pins_it() -> None:
    assert faust_adapter.faust_version()[:2] == faust_adapter.TESTED_FAUST
    pin = re.search(r'"faust-streaming>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin is not None, "pyproject must pin faust-streaming to a range"
    low, high = (tuple(int(p) for p in v.split(".")) for v in pin.groups())
    assert low[:2] == faust_adapter.TESTED_FAUST and high == (0, faust_adapter.TESTED_FAUST[1] + 1)


def _params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_consumer_commit_of_chosen_offsets_exists_as_used() -> None:
    # faust's consumer delegates _commit(offsets) to its aiokafka thread, which commits them
    for owner in (ThreadDelegateConsumer, AIOKafkaConsumerThread):
        assert inspect.iscoroutinefunction(owner._commit)
        assert _params(owner._commit) == ["self", "offsets"]
    assert "self.assignment()" in inspect.getsource(AIOKafkaConsumerThread._commit)
    assert "already rebalanced" in inspect.getsource(AIOKafkaConsumerThread._commit)


async def test_commit_of_nothing_does_not_reach_the_consumer() -> None:
    class Untouchable:
        async def _commit(self, offsets: Any) -> bool:
            raise AssertionError("called")

    assert await faust_adapter.commit(Untouchable(), {}) is False


async def test_commit_hands_the_offsets_to_the_consumer_and_returns_its_answer() -> None:
    seen: list[dict[Any, int]] = []

    class Consumer:
        async def _commit(self, offsets: dict[Any, int]) -> bool:
            seen.append(offsets)
            return True

    offsets = {faust.types.TP("t", 0): 12}
    assert await faust_adapter.commit(Consumer(), offsets) is True
    assert seen == [offsets]


def test_store_writes_without_changelog_exist_as_used() -> None:
    assert _params(RocksDBStore._set) == ["self", "key", "value"]
    assert _params(RocksDBStore._del) == ["self", "key"]


def test_every_consumer_the_app_makes_passes_through_the_wrapper(tmp_path: Path) -> None:
    app = faust.App("adapter-test", broker="kafka://127.0.0.1:1", datadir=str(tmp_path), autodiscover=False)
    wrapped: list[Any] = []

    def wrap(consumer: Any) -> Any:
        wrapped.append(consumer)
        consumer.agencybus_wrapped = True
        return consumer

    faust_adapter.wrap_new_consumer(app, wrap)
    consumer = app.consumer
    assert wrapped == [consumer] and consumer.agencybus_wrapped


@pytest.fixture
def restore_aiokafka() -> Any:
    before = aiokafka.AIOKafkaConsumer
    yield
    aiokafka.AIOKafkaConsumer = before


@pytest.mark.usefixtures("restore_aiokafka")
async def test_the_fetch_wait_is_capped_for_consumers_faust_makes_afterwards() -> None:
    faust_adapter.shorten_fetch_wait(100)
    faust_adapter.shorten_fetch_wait(100)  # once is enough: no subclass of the subclass
    cls = aiokafka.AIOKafkaConsumer
    assert cls.__mro__[1].__name__ == "AIOKafkaConsumer" and cls.__mro__[1] is not cls
    assert "aiokafka.AIOKafkaConsumer(" in inspect.getsource(AIOKafkaConsumerThread)  # looked up late
    capped = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
    kept = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=50)
    try:
        assert capped._fetch_max_wait_ms == 100 and kept._fetch_max_wait_ms == 50
    finally:
        await asyncio.gather(capped.stop(), kept.stop())
