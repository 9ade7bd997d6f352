"""The bus end to end on the cluster with every role as its own principal under the applied plan.

The agencies publish through the SDK as themselves (QLTT, THUE, CA), the processors correlate
as ``agencybus-processors``, QLTT's forwarder delivers QLTT's alert as ``forwarder-qltt``, the
dashboard ingests as ``agencybus-dashboard`` into PostgreSQL, the State Bank service takes CA's
signed block request as ``agencybus-bank`` (its ledger on PostgreSQL, its group the plan's) and
its answer comes back to the dashboard. Then each running role's own credentials try one thing
its bindings do not allow, and the broker refuses it. No role connects as the admin; the admin
only reads the alert topic to find the case.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.errors import TopicAuthorizationFailedError

from agencybus import acl, signing
from agencybus.kafka import client_config, make_admin
from agencybus.settings import Settings
from consumers.forwarder.forwarder import Forwarder
from consumers.forwarder.sinks import JsonlSink
from consumers.state_bank import samples
from consumers.state_bank.ledger import Ledger
from consumers.state_bank.service import BankService
from consumers.steering import store as st
from consumers.steering.ingest import Ingestor, start_background
from processors.runner import WorkerProcess
from producers.publisher import Publisher
from schemas import topics as tc
from schemas.models import PaymentBlockRequested
from tests.e2e.test_correlation_e2e import latest_cases, read_alerts
from tests.e2e.test_dashboard_e2e import planted_pattern
from tests.kafka.scenario import start_worker
from tests.kafka_acl import KafkaPrincipals

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def wait(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.5)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """One keys directory for the hosts of this test: CA signs requests, the bank (NHNN) its answers."""
    directory = tmp_path / "keys"
    for signer in ("CA", "NHNN"):
        signing.generate_keypair(signer, directory)
    return directory


@pytest.fixture
def roles(
    kafka_principals: KafkaPrincipals, tmp_path: Path, pg_url: str, keys: Path
) -> Iterator[dict[str, Any]]:
    """Processors (a worker process), QLTT's forwarder, the dashboard's ingest, the bank: each as itself."""

    def as_(principal: str, **overrides: Any) -> Settings:
        return kafka_principals.settings(
            principal, data_dir=tmp_path / principal, keys_dir=keys, metrics_port=0, **overrides
        )

    processors = as_("agencybus-processors")
    worker = start_worker(
        processors, tmp_path / "worker", app_id=f"{acl.PROCESSORS_PREFIX}-roles-{uuid.uuid4().hex[:6]}"
    )
    stops: list[tuple[threading.Thread, threading.Event, Callable[[], None]]] = []
    try:
        forwarder_settings = as_(acl.forwarder_name("QLTT"))
        inbox = tmp_path / "qltt-inbox.jsonl"
        forwarder = Forwarder(
            forwarder_settings, "QLTT", JsonlSink(inbox), group_id=acl.forwarder_name("QLTT")
        )
        stop = threading.Event()
        thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
        thread.start()
        stops.append((thread, stop, forwarder.close))

        dashboard_settings = as_("agencybus-dashboard", database_url=pg_url)
        store = st.Store(pg_url)
        store.create_schema()
        ingestor = Ingestor(dashboard_settings, store)
        thread, stop = start_background(ingestor)
        stops.append((thread, stop, ingestor.close))

        bank_settings = as_(
            "agencybus-bank",
            database_url=pg_url,
            bank_web_port=0,
            bank_consumer_group=acl.BANK_GROUP,  # the plan's group: any other is refused
            bank_sweep_interval_s=0.5,
        )
        bank = BankService(bank_settings)
        stop = threading.Event()
        thread = threading.Thread(target=bank.run, args=(stop,), daemon=True)
        thread.start()
        stops.append((thread, stop, bank.close))
        yield {
            "as": as_,
            "worker": worker,
            "inbox": inbox,
            "store": store,
            "bank": bank,
            "settings": {
                "processors": processors,
                "forwarder": forwarder_settings,
                "dashboard": dashboard_settings,
                "bank": bank_settings,
            },
        }
    finally:
        for _, stop, _ in stops:
            stop.set()
        for thread, _, close in stops:
            thread.join(timeout=20)
            close()
        worker.stop()
    bank.ledger.close()
    store.close()


def refused_write(settings: Settings, topic: str) -> bool:
    producer = KafkaProducer(**client_config(settings), acks="all", retries=0, max_block_ms=10_000)
    try:
        producer.send(topic, value=b"not allowed").get(timeout=20)
    except TopicAuthorizationFailedError:
        return True
    finally:
        producer.close(timeout=5)
    return False


def refused_read(settings: Settings, topic: str) -> bool:
    """The broker will not even describe ``topic`` to this principal: no consumer finds its leader
    (error 29, as in the authorisation matrix, where that refusal is the read's)."""
    admin = make_admin(settings)
    try:
        (entry,) = admin.describe_topics([topic])
    finally:
        admin.close()
    return bool(entry.get("error_code") == TopicAuthorizationFailedError.errno)


def test_agencies_processors_forwarder_dashboard_and_bank_each_as_its_own_principal(
    kafka_principals: KafkaPrincipals, roles: dict[str, Any], tmp_path: Path
) -> None:
    as_ = roles["as"]
    phone = f"09{random.randrange(10**7, 10**8)}"
    events = planted_pattern(phone)  # QLTT's violation and THUE's tax anomaly: a case for QLTT and THUE
    for event in events:
        with Publisher(event.header.agency, as_(event.header.agency)) as publisher:
            assert publisher.publish(event).delivered
    genuine = {str(e.header.event_id) for e in events}
    alerts = read_alerts(kafka_principals.cluster.settings(), genuine, bool, timeout=120)
    ((case_id, _),) = latest_cases(alerts).items()

    # QLTT's forwarder (its own principal and group) delivered the alert to QLTT's inbox
    def forwarded() -> bool:
        if not roles["inbox"].exists():
            return False
        lines = [json.loads(line) for line in roles["inbox"].read_text(encoding="utf-8").splitlines()]
        return any(doc["data"]["case_id"] == case_id for doc in lines)

    wait("the alert in QLTT's forwarder inbox", forwarded)

    # the dashboard (its own principal, no group) has the case with both agencies' evidence
    store: st.Store = roles["store"]

    def on_dashboard() -> bool:
        with store.session() as s:
            ids = {e.event_id for e in s.query(st.Evidence).filter(st.Evidence.case_id == case_id)}
        return genuine <= ids

    wait("the case on the dashboard", on_dashboard)

    # CA asks for a block on the case; the bank records it and answers; the answer reaches the dashboard
    request = samples.block_request(agency="CA", case_id=case_id)
    with Publisher("CA", as_("CA")) as publisher:
        assert publisher.publish(PaymentBlockRequested.model_validate(request)).delivered
    request_id = request["request_id"]
    bank: BankService = roles["bank"]

    def in_ledger() -> bool:
        with bank.ledger.reading() as s:
            return Ledger.by_request_id(s, request_id) is not None

    wait("CA's request in the bank's ledger", in_ledger)

    def answered() -> st.PaymentBlockStatusRow | None:
        with store.session() as s:
            return (
                s.query(st.PaymentBlockStatusRow).filter_by(request_id=request_id, status="RECEIVED").first()
            )

    status = wait("the bank's RECEIVED on the dashboard", answered)
    assert status.signature_ok is True, status.signature_note
    with store.session() as s:
        block = s.get(st.PaymentBlock, ("CA", request_id))
        assert block is not None and block.case_id == case_id and block.status == "RECEIVED"

    # each running role's credentials, trying what its bindings do not allow
    own = roles["settings"]
    assert refused_read(own["forwarder"], tc.alert_topic_name("CA"))  # another agency's alerts
    assert refused_write(own["bank"], tc.ALERTS_ALL.name)  # the bank does not raise alerts
    assert refused_write(own["dashboard"], tc.PAYMENT_BLOCK_STATUS.name)  # nor answers for the bank
    assert refused_write(own["processors"], tc.CASE_UPDATES.name)  # only the dashboard changes cases
    assert refused_write(as_("THUE"), tc.agency_topic("payment-block-request", "CA").name)
    worker: WorkerProcess = roles["worker"]
    assert worker.process is not None and worker.process.poll() is None, worker.log_tail()
