"""The local Kafka cluster is what the issue asks for: 3 brokers, SASL_SSL + SCRAM, authorizer, RF 3.

The authorisation matrix per principal is elsewhere (tests/kafka/test_acl*.py); here only what
the cluster itself must enforce before any ACL exists.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from pydantic import SecretStr
from typer.testing import CliRunner

from agencybus.cluster import KafkaCluster
from agencybus.cluster_watchdog import _alive
from agencybus.kafka import client_config, make_admin, make_producer
from agencybus.settings import Settings
from schemas import topics as catalog
from tests.cli import runtime_app

pytestmark = pytest.mark.kafka


def test_three_brokers_answer_over_sasl_ssl(kafka_cluster: KafkaCluster, kafka_settings: Settings) -> None:
    admin = make_admin(kafka_settings)
    try:
        brokers = admin.describe_cluster()["brokers"]
        topic = catalog.all_topics(["CA"])[0].name
        described = admin.describe_topics([topic])[0]
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "0")], config_filter="all"
        )
    finally:
        admin.close()
    assert sorted(b["broker_id"] for b in brokers) == [0, 1, 2]
    assert all(len(p["replica_nodes"]) == 3 for p in described["partitions"])
    broker_config = {name: entry["value"] for name, entry in configs["broker"]["0"].items()}
    assert broker_config["min.insync.replicas"] == "2"
    assert broker_config["default.replication.factor"] == "3"
    assert broker_config["auto.create.topics.enable"] == "false"
    assert broker_config["authorizer.class.name"].endswith("StandardAuthorizer")
    assert set(kafka_cluster.leaders(topic).values()) <= {0, 1, 2}


def test_no_topic_is_created_by_writing_to_it(kafka_settings: Settings) -> None:
    name = f"test.autocreate.{uuid.uuid4().hex[:8]}"
    producer = make_producer(kafka_settings, max_block_ms=3000)
    try:
        with pytest.raises(KafkaError):
            producer.send(name, b"x").get(timeout=5)
    finally:
        producer.close()
    admin = make_admin(kafka_settings)
    try:
        assert name not in admin.list_topics()
    finally:
        admin.close()


def test_wrong_password_and_plaintext_are_refused(kafka_settings: Settings) -> None:
    quick = {"kafka_bootstrap_timeout_ms": 3000}
    wrong = kafka_settings.model_copy(update={"sasl_password": SecretStr("not-the-password"), **quick})
    with pytest.raises(KafkaError):
        KafkaProducer(**client_config(wrong)).close()
    plaintext = kafka_settings.model_copy(update={"security_protocol": "PLAINTEXT", **quick})
    with pytest.raises(KafkaError):
        KafkaProducer(**client_config(plaintext)).close()


def test_a_new_user_may_do_nothing_until_an_acl_allows_it(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    user = f"test-{uuid.uuid4().hex[:8]}"
    password = kafka_cluster.create_user(user)
    for node in kafka_cluster.nodes:  # create_user returned: each broker alone already takes the login
        alone = kafka_cluster.settings(user, password, bootstrap_servers=f"127.0.0.1:{node.ports.client}")
        make_admin(alone, bootstrap_timeout_ms=5000).close()
    settings = kafka_cluster.settings(user, password, data_dir=tmp_path)
    topic = catalog.all_topics(["CA"])[0].name
    producer = make_producer(settings, max_block_ms=5000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, b"x").get(timeout=10)
    finally:
        producer.close()
    admin = make_admin(settings)
    try:
        with pytest.raises(KafkaError):
            admin.create_topics([NewTopic(f"test.{user}", 1, 3)])
    finally:
        admin.close()


def test_cluster_status_lists_three_running_nodes(kafka_cluster: KafkaCluster) -> None:
    result = CliRunner().invoke(
        runtime_app(), ["cluster", "status", "--dir", str(kafka_cluster.directory)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("running") == 3
    assert kafka_cluster.bootstrap_servers in result.output


def test_watchdog_stops_the_nodes_when_their_owner_is_killed(tmp_path: Path) -> None:
    """The owner dies with -9 (no atexit): the watchdog it started stops the cluster's processes."""
    node = tmp_path / "node-0"
    node.mkdir()
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, os, time\n"
            f"jvm = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', "
            f"'-Dagencybus.cluster={tmp_path}'], start_new_session=True)\n"
            f"open({str(node / 'pid')!r}, 'w').write(str(jvm.pid))\n"
            f"subprocess.Popen([sys.executable, '-m', 'agencybus.cluster_watchdog', str(os.getpid()), "
            f"{str(tmp_path)!r}])\n"
            "print(jvm.pid, flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    jvm = int(owner.stdout.readline())
    assert _alive(jvm)
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while _alive(jvm) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(jvm), "the node outlived its owner"
