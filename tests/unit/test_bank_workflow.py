"""The request state machine under arbitrary sequences of officer actions and sweeps (hypothesis).

Whatever officers try, in whatever order: a final state never changes, every accepted
change produces exactly one reply with the next sequence number and one audit row,
refused steps change nothing, and instructions exist only for executed / lifted blocks.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencybus import signing
from agencybus.settings import load_settings
from consumers.state_bank import samples, workflow
from consumers.state_bank.ledger import Ledger, LedgerError, RequestStatus
from consumers.state_bank.outbox import BankStatusSigner
from consumers.state_bank.service import policy_from_settings
from schemas import codec

ACTIONS = st.lists(
    st.sampled_from(["execute", "reject", "lift", "lift-request", "expire-sweep"]), min_size=1, max_size=6
)
FINAL = {RequestStatus.REJECTED, RequestStatus.LIFTED, RequestStatus.EXPIRED}


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Path, workflow.BankContext]]:
    with tempfile.TemporaryDirectory() as tmp:
        bank_settings = load_settings(data_dir=Path(tmp))
        for agency in ("CA", "NHNN"):
            signing.generate_keypair(agency, bank_settings.resolved_keys_dir)
        ctx = workflow.BankContext(
            "NHNN-KV10",
            BankStatusSigner.from_keys_dir(bank_settings.resolved_keys_dir),
            policy_from_settings(bank_settings),
        )
        yield Path(tmp), ctx


def _receive(ledger: Ledger, ctx: workflow.BankContext, keys: Path, record: dict, now: datetime) -> str:
    key, key_id = signing.load_signer(keys, "CA")
    value, _, _ = samples.signed_message(record, key, key_id)
    with ledger.transaction() as session:
        return workflow.receive(
            session, workflow.Incoming(value, codec.decode(value)[1]), ctx, [], now
        ).request_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_no_sequence_of_actions_rewrites_history(
    world: tuple[Path, workflow.BankContext], actions: list[str]
) -> None:
    root, ctx = world
    keys = root / "keys"
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        ledger = Ledger.open(f"sqlite:///{Path(tmp) / 'bank.db'}")
        now = datetime.now(UTC)
        block_id = _receive(
            ledger, ctx, keys, samples.block_request(now=now, valid_until=now + timedelta(days=2)), now
        )
        history = [RequestStatus.RECEIVED]
        for step in actions:
            with ledger.reading() as session:
                before = RequestStatus(Ledger.find(session, block_id).status)
            try:
                if step == "lift-request":
                    lift = samples.block_request(now=now, action="LIFT", lifts_request_id=block_id)
                    _receive(ledger, ctx, keys, lift, now)
                    continue
                with ledger.transaction() as session:
                    if step == "execute":
                        workflow.execute(session, block_id, "C", ctx, now)
                    elif step == "reject":
                        workflow.reject(session, block_id, "reason", "C", ctx, now)
                    elif step == "lift":
                        workflow.lift(session, block_id, "C", ctx, now)
                    else:
                        workflow.expire_due(session, ctx, now + timedelta(days=3))
            except LedgerError:
                pass
            with ledger.reading() as session:
                after = RequestStatus(Ledger.find(session, block_id).status)
            if before in FINAL:
                assert after == before
            if after != before:
                assert after in workflow.TRANSITIONS[before]
                history.append(after)

        with ledger.reading() as session:
            replies = Ledger.outbox_for(session, block_id)
            assert [r.sequence for r in replies] == list(range(1, len(history) + 1))
            assert [r.status for r in replies] == [s.value for s in history]
            changes = [a for a in Ledger.audit_trail(session, block_id) if a.action != "lift-requested"]
            assert len(changes) == len(history)
            instructed = {i.action for i in Ledger.instructions_for(session, block_id)}
            assert ("BLOCK" in instructed) == (RequestStatus.EXECUTED in history)
            assert ("LIFT" in instructed) == (
                RequestStatus.EXECUTED in history and RequestStatus.LIFTED in history
            )
        ledger.close()


def test_another_agencys_request_under_a_held_id_is_an_id_collision(
    world: tuple[Path, workflow.BankContext],
) -> None:
    """QLTT's request S is in the ledger; CA's request reusing S is refused before anything is
    written (the service dead-letters it); QLTT's own repeat stays a duplicate."""
    root, ctx = world
    keys = root / "keys"
    if not (keys / "private" / "QLTT.pem").exists():
        signing.generate_keypair("QLTT", keys)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        ledger = Ledger.open(f"sqlite:///{Path(tmp) / 'bank.db'}")
        now = datetime.now(UTC)
        shared = str(uuid.uuid4())
        qltt = samples.block_request(agency="QLTT", event_id=shared, now=now)

        def signed(record: dict, agency: str) -> workflow.Incoming:
            key, key_id = signing.load_signer(keys, agency)
            value, _, _ = samples.signed_message(record, key, key_id)
            return workflow.Incoming(value, codec.decode(value)[1])

        with ledger.transaction() as session:
            assert not workflow.receive(session, signed(qltt, "QLTT"), ctx, [], now).duplicate
        for other in (
            samples.block_request(agency="CA", event_id=shared, now=now),  # same event_id and request_id
            {**samples.block_request(agency="CA", now=now), "request_id": shared},  # same request_id only
        ):
            refused = pytest.raises(workflow.IdCollision, match=r"QLTT's request #1.*CA must send")
            with refused, ledger.transaction() as session:
                workflow.receive(session, signed(other, "CA"), ctx, [], now)
        with ledger.transaction() as session:
            assert workflow.receive(session, signed(qltt, "QLTT"), ctx, [], now).duplicate
        with ledger.reading() as session:
            assert [o.status for o in Ledger.outbox_for(session, shared)] == ["RECEIVED"]
            assert Ledger.find(session, shared).agency == "QLTT"
        ledger.close()
