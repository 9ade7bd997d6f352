"""Topic catalog on the real broker: idempotent creation, the CLI's create and list."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from kafka.errors import KafkaError
from typer.testing import CliRunner

from agencybus.kafka import catalog_topics, ensure_topics, make_consumer
from agencybus.kafka_admin import AdminClient
from agencybus.settings import Settings
from schemas.topics import Topic
from tests.cli import runtime_app

pytestmark = pytest.mark.broker


def _private_topics() -> list[Topic]:
    tag = uuid.uuid4().hex[:8]
    return [
        Topic(f"test.topics.{tag}.a", None, "none", "test", partitions=2),
        Topic(f"test.topics.{tag}.b", None, "none", "test"),
    ]


def test_ensure_topics_creates_once_then_reports_existing(settings: Settings) -> None:
    topics = _private_topics()
    first = ensure_topics(settings, topics)
    assert first.created == [t.name for t in topics] and first.existing == []
    second = ensure_topics(settings, topics)
    assert second.created == [] and second.existing == [t.name for t in topics]

    consumer = make_consumer(settings, group_id=None)
    try:
        assert consumer.partitions_for_topic(topics[0].name) == {0, 1}
        assert len(consumer.partitions_for_topic(topics[1].name)) == settings.topic_partitions
    finally:
        consumer.close()


def test_catalog_has_every_topic_with_its_dead_letter_topic(settings: Settings) -> None:
    names = {t.name for t in catalog_topics(settings)}
    main = {n for n in names if not n.startswith("dlq.")}
    assert {f"dlq.{n}" for n in main} == names - main
    assert {"alerts.qltt.v1", "alerts.bcd389.v1", "agency.ca.payment-block-requests.v1"} <= names
    # only agencies the registry allows to request payment blocks have a request topic
    assert "agency.thue.payment-block-requests.v1" not in names and "agency.thue.violations.v1" in names


def test_cli_create_is_idempotent_and_list_shows_the_catalog(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENCYBUS_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    monkeypatch.setenv("AGENCYBUS_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    created = runner.invoke(runtime_app(), ["topics", "create"])
    assert created.exit_code == 0, created.output
    total = len(catalog_topics(settings))
    assert f"0 created, {total} already existed" in created.output  # the module broker has them all
    assert "existing  agency.qltt.violations.v1" in created.output

    listed = runner.invoke(runtime_app(), ["topics", "list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if " agency.qltt.violations.v1 " in line)
    assert "seller primary token" in row and "dlq.agency.qltt.violations.v1" in row and "400 d" in row
    assert row.rstrip(" │|").endswith("yes")


def test_cli_list_without_a_broker_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from agencybus.broker import free_port

    monkeypatch.setenv("AGENCYBUS_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    result = CliRunner().invoke(runtime_app(), ["topics", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "broker not reachable" in result.output
    row = next(line for line in result.output.splitlines() if " alerts.all.v1 " in line)
    assert row.rstrip(" │|").endswith("?")


def _network_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("kafka-io-")}


def test_an_admin_client_that_cannot_bootstrap_leaves_no_network_thread() -> None:
    """kafka-python's own constructor starts its IO thread and leaves it running when bootstrap fails."""
    from agencybus.broker import free_port

    before = _network_threads()
    with pytest.raises(KafkaError):
        AdminClient(
            bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=500, client_id="no-broker"
        )
    time.sleep(0.2)
    assert "kafka-io-no-broker" not in _network_threads() - before
