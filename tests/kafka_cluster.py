"""The local 3-node Apache Kafka cluster as pytest fixtures, started once per test session.

Starting three JVMs costs tens of seconds, so one cluster serves every ``kafka`` test of a
session; tests keep apart by unique topic names, consumer groups and data dirs. Without
Java or Maven the tests skip locally and fail on CI (``CI=true``), where Kafka is required.

For a quick edit-test loop, ``AGENCYBUS_TEST_CLUSTER_DIR=DIR`` makes the tests use the cluster
that ``agencybus cluster up --dir DIR`` started, and leave it running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agencybus.cluster import KafkaCluster
from agencybus.kafka import ensure_topics
from agencybus.kafka_dist import missing_tools
from agencybus.settings import Settings
from tests.helpers import require


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three combined KRaft nodes (SASL_SSL + SCRAM, mTLS between nodes, authorizer) with the catalog."""
    missing = missing_tools()
    if missing:
        require(f"Apache Kafka needs {' and '.join(missing)} on this machine")
    reuse = os.environ.get("AGENCYBUS_TEST_CLUSTER_DIR")
    if reuse:
        kept = KafkaCluster(Path(reuse), bound_to_owner=False, quick_start=True).start()
        ensure_topics(kept.settings())
        yield kept
        return
    cluster = KafkaCluster(tmp_path_factory.mktemp("kafka-cluster"), quick_start=True)
    cluster.start()
    try:
        ensure_topics(cluster.settings())
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kafka_settings(kafka_cluster: KafkaCluster, tmp_path: Path, clean_env: None) -> Settings:
    """The admin's settings on the cluster, with this test's own data_dir and metrics off."""
    return kafka_cluster.settings(data_dir=tmp_path, metrics_port=0)


def cluster_processes(directory: Path | None = None) -> list[int]:
    """Pids of running JVMs of any (or ``directory``'s) local cluster on this machine."""
    marker = b"-Dagencybus.cluster=" + (str(directory).encode() if directory else b"")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parts = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.startswith(marker) for part in parts) and b"kafka.Kafka" in parts:
            found.append(int(entry.name))
    return found
