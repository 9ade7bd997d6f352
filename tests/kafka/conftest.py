"""The kafka tests get a longer timeout: the first one of a session waits for the cluster to start,
and the failure and durability tests wait for brokers to recover their logs (minutes on a loaded machine)."""

from __future__ import annotations

import pytest

KAFKA_TIMEOUT_S = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("kafka") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(KAFKA_TIMEOUT_S))
