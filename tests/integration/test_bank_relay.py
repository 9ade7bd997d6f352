"""The status relay after a crash at each point of its cycle, on the real broker and both databases.

A crash after sending but before marking leaves a batch "in doubt"; a crash after
claiming but before sending leaves one that never reached the broker. After restart
each status must be on the topic exactly once: counted as records, not only as
distinct event ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agencybus import signing
from agencybus.broker import EmbeddedBroker
from agencybus.kafka import make_consumer, make_producer
from agencybus.settings import Settings, load_settings
from consumers.state_bank import samples, workflow
from consumers.state_bank.ledger import Ledger
from consumers.state_bank.outbox import BankStatusSigner, StatusRelay
from consumers.state_bank.service import STATUS_TOPIC, policy_from_settings
from schemas import codec
from tests.helpers import header, read_to_end

pytestmark = pytest.mark.broker


@pytest.fixture
def bank_settings(broker: EmbeddedBroker, tmp_path: Path, clean_env: None) -> Settings:
    settings = load_settings(bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path, metrics_port=0)
    for agency in ("CA", "NHNN"):
        signing.generate_keypair(agency, settings.resolved_keys_dir)
    return settings


def _relay(settings: Settings, ledger: Ledger, batch_size: int = 500) -> StatusRelay:
    return StatusRelay(
        ledger,
        make_producer(settings),
        lambda: make_consumer(settings, group_id=None),
        STATUS_TOPIC,
        batch_size=batch_size,
    )


def _receive(settings: Settings, ledger: Ledger, n: int) -> list[str]:
    ctx = workflow.BankContext(
        "NHNN-KV10",
        BankStatusSigner.from_keys_dir(settings.resolved_keys_dir),
        policy_from_settings(settings),
    )
    key, key_id = signing.load_signer(settings.resolved_keys_dir, "CA")
    ids = []
    for _ in range(n):
        value, _, record = samples.signed_message(samples.block_request(), key, key_id)
        with ledger.transaction() as session:
            workflow.receive(
                session, workflow.Incoming(value, codec.decode(value)[1]), ctx, [], datetime.now(UTC)
            )
        ids.append(record["request_id"])
    return ids


def test_crash_between_send_and_mark_and_between_claim_and_send(
    bank_settings: Settings, ledger: Ledger
) -> None:
    sent_not_marked = _receive(bank_settings, ledger, 3)
    first = _relay(bank_settings, ledger, batch_size=3)
    claimed = first.claim_batch()
    assert claimed is not None
    first.send(claimed[1])  # ... and the process dies before mark_sent

    claimed_not_sent = _receive(bank_settings, ledger, 2)
    assert first.claim_batch() is not None  # ... dies again before sending this one
    first.producer.close()
    first.close()

    restarted = _relay(bank_settings, ledger)
    assert restarted.recover() == (3, 2)  # 3 found on the topic, 2 released for sending
    assert restarted.publish_pending() == 2
    assert restarted.publish_pending() == 0
    assert restarted.backlog() == 0
    restarted.producer.close()
    restarted.close()

    mine = {r.encode() for r in sent_not_marked + claimed_not_sent}
    records = read_to_end(bank_settings, STATUS_TOPIC, keep=lambda r: r.key in mine)
    event_ids = [header(r, "ce_id") for r in records]
    assert len(records) == 5  # records, not only distinct ids: nothing was published twice
    assert len(set(event_ids)) == 5
    assert sorted(r.key.decode() for r in records) == sorted(sent_not_marked + claimed_not_sent)
