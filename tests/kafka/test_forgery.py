"""Forgery on the real cluster: a violation that claims another agency, and a CaseUpdated from anyone
but the dashboard, never change a case.

Every role connects with its own principal of the applied plan: the processors as
``agencybus-processors``, each agency through the SDK as itself, the dashboard's action
publisher as ``agencybus-dashboard``. A forgery is either refused by the broker
(TopicAuthorizationFailed) or reaches a consumer, which dead-letters it with the reason.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.errors import TopicAuthorizationFailedError

from agencybus import acl
from agencybus.kafka import client_config
from consumers.steering.actions import ActionPublisher
from consumers.steering.auth import User
from processors.runner import WorkerProcess
from producers.publisher import Publisher
from schemas import codec
from schemas import topics as tc
from schemas.models import CaseUpdated, ViolationRecorded, new_header
from tests.e2e.test_correlation_e2e import latest_cases, read_alerts
from tests.e2e.test_dashboard_e2e import planted_pattern
from tests.helpers import consume_until, header
from tests.kafka.scenario import start_worker
from tests.kafka_acl import KafkaPrincipals

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def processors(
    kafka_principals: KafkaPrincipals, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A processors worker as the processors' own principal (its app id under their ACL prefix)."""
    data_dir = tmp_path_factory.mktemp("forgery-worker")
    settings = kafka_principals.settings("agencybus-processors", data_dir=data_dir)
    worker = start_worker(
        settings, data_dir / "worker", app_id=f"{acl.PROCESSORS_PREFIX}-forgery-{uuid.uuid4().hex[:6]}"
    )
    try:
        yield worker
    finally:
        worker.stop()


def _send(settings: Any, topic: str, event: Any, key: bytes | None = None) -> None:
    """Produce one encoded event as the principal of ``settings`` and wait for the broker's answer."""
    encoded = codec.encode_event(event)
    producer = KafkaProducer(**client_config(settings), acks="all", retries=0, max_block_ms=10_000)
    try:
        producer.send(topic, key=key or event.kafka_key(), value=encoded.value, headers=encoded.headers).get(
            timeout=20
        )
    finally:
        producer.close(timeout=5)


def test_a_forged_origin_and_foreign_case_updates_never_change_a_case(
    kafka_principals: KafkaPrincipals, processors: WorkerProcess, tmp_path: Path
) -> None:
    admin = kafka_principals.cluster.settings(data_dir=tmp_path)
    phone = f"09{random.randrange(10**7, 10**8)}"
    events = planted_pattern(phone)  # QLTT's violation and THUE's tax anomaly about one seller
    for event in events:
        agency = event.header.agency
        with Publisher(agency, kafka_principals.settings(agency, data_dir=tmp_path / agency)) as publisher:
            assert publisher.publish(event).delivered
    genuine = {str(e.header.event_id) for e in events}
    alerts = read_alerts(admin, genuine, lambda found: bool(found), timeout=120)
    ((case_id, case),) = latest_cases(alerts).items()
    assert case["status"] == "OPEN", case

    # 1. THUE invents a police violation about the same seller
    original = next(e for e in events if isinstance(e, ViolationRecorded))
    forged = original.model_copy(
        update={"header": original.header.model_copy(update={"agency": "CA", "event_id": uuid.uuid4()})}
    )
    thue = kafka_principals.settings("THUE")
    with pytest.raises(TopicAuthorizationFailedError):  # on the police's own topic: the broker says no
        _send(thue, tc.agency_topic("violation", "CA").name, forged)
    own_topic = tc.agency_topic("violation", "THUE").name
    _send(thue, own_topic, forged)  # on THUE's topic the broker takes it; the processors must not
    letters = consume_until(
        admin,
        tc.dead_letter_topic(own_topic),
        lambda kept: len(kept) >= 1,
        timeout=60,
        keep=lambda r: header(r, "ce_id") == str(forged.header.event_id).encode(),
    )
    assert header(letters[0], "dlq_error_type") == b"ClaimRejected"
    reason = (header(letters[0], "dlq_error_message") or b"").decode()
    assert "'CA'" in reason and "only THUE may write" in reason, reason

    # 2. every principal but the dashboard's tries to close the case
    forged_close = CaseUpdated(
        header=new_header(
            "BCD389", source_system="dashboard", province_code="38", occurred_at=datetime.now(UTC)
        ),
        case_id=case_id,
        action="CLOSE",
        actor="bcd.chair",
        actor_agency="BCD389",
    )
    refused = []
    for principal in acl.principals():
        if principal.name == "agencybus-dashboard":
            continue
        with pytest.raises(TopicAuthorizationFailedError):
            _send(
                kafka_principals.settings(principal.name),
                tc.CASE_UPDATES.name,
                forged_close,
                case_id.encode(),
            )
        refused.append(principal.name)
    assert len(refused) == len(acl.principals()) - 1

    # 3. the dashboard's own close goes through: the next version is CLOSED, built without the forgery
    actions = ActionPublisher(kafka_principals.settings("agencybus-dashboard", data_dir=tmp_path / "dash"))
    try:
        actions.publish(case_id, "CLOSE", User("bcd.chair", "Chủ tịch", "BCD389", "steering", "$argon2id$x"))
    finally:
        actions.close()
    versions = read_alerts(
        admin,
        genuine,
        lambda found: any(a["case_id"] == case_id and a["status"] == "CLOSED" for a in found),
        timeout=120,
    )
    mine = [a for a in versions if a["case_id"] == case_id]
    closed = max(mine, key=lambda a: a["version"])
    assert closed["status"] == "CLOSED" and closed["version"] > case["version"], closed
    for version in mine:
        evidence = {str(e["event_id"]) for e in version["evidence"]}
        assert str(forged.header.event_id) not in evidence and evidence <= genuine, version
    assert processors.process is not None and processors.process.poll() is None, processors.log_tail()
