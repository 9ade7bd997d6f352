"""Authorisation matrix on the real cluster: for every principal and every catalog topic, the broker
allows exactly what the generated plan allows and refuses everything else.

Each check is a real client operation as that principal (its own SCRAM user over TLS):
describe (metadata), write (a produce acknowledged by the in-sync replicas) and read (a fetch
that returns the admin's probe record; where the broker refuses to describe a topic the
consumer cannot even find its leader, and that refusal is the read's), and for every consumer
group of the plan (and one prefixed group of the processors) the offset fetch and commit that
a consumer group member makes. Refusals must be the broker's (TopicAuthorizationFailed,
GroupAuthorizationFailed), never a timeout. The records written are deleted afterwards
(DeleteRecords), so the catalog topics of the session are clean for the tests that follow.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from kafka.structs import OffsetAndMetadata
from pydantic import SecretStr

from agencybus import acl
from agencybus.acl_apply import (
    AclApplyError,
    apply_plan,
    broker_addresses,
    credentials_file,
    wait_until_usable,
)
from agencybus.kafka import client_config, make_admin
from agencybus.settings import Settings
from schemas import reference
from schemas import topics as tc
from tests.kafka_acl import KafkaPrincipals

pytestmark = pytest.mark.kafka

TOPIC, GROUP = acl.Resource.TOPIC, acl.Resource.GROUP
READ, WRITE, DESCRIBE = acl.Operation.READ, acl.Operation.WRITE, acl.Operation.DESCRIBE
PROBE = b"acl-matrix probe: not an event"
CHECK_TIMEOUT_S = 20.0


def catalog_topics() -> list[str]:
    return sorted(t.name for t in tc.all_topics(sorted(reference.alert_agencies())))


@dataclass
class Matrix:
    """Outcomes: (principal, resource, name, operation) -> allowed by the broker?"""

    outcomes: dict[tuple[str, str, str, str], bool] = field(default_factory=dict)

    def record(self, principal: str, resource: str, name: str, op: str, allowed: bool) -> None:
        self.outcomes[(principal, resource, name, op)] = allowed

    def mismatches(self, plan: list[acl.Binding]) -> list[str]:
        wrong = []
        for (principal, resource, name, op), got in sorted(self.outcomes.items()):
            want = acl.allowed(plan, principal, acl.Resource(resource), name, acl.Operation(op))
            if got != want:
                wrong.append(f"{principal} {op} {resource} {name}: broker {'allowed' if got else 'refused'}")
        return wrong


@pytest.fixture(scope="module")
def probes(kafka_principals: KafkaPrincipals) -> Iterator[dict[str, int]]:
    """One admin-written record at the end of partition 0 of every catalog topic; deleted afterwards."""
    settings = kafka_principals.cluster.settings()
    producer = KafkaProducer(**client_config(settings), acks="all")
    try:
        futures = {name: producer.send(name, value=PROBE, partition=0) for name in catalog_topics()}
        offsets = {name: f.get(timeout=30).offset for name, f in futures.items()}
    finally:
        producer.close()
    yield offsets
    admin = make_admin(settings)
    try:
        ends = KafkaConsumer(**client_config(settings))
        try:
            parts = [TopicPartition(name, 0) for name in catalog_topics()]
            end = ends.end_offsets(parts)
        finally:
            ends.close()
        admin.delete_records({tp: offset for tp, offset in end.items() if offset > 0})
    finally:
        admin.close()


def _describe(settings: Settings, names: list[str]) -> dict[str, bool]:
    admin = make_admin(settings)
    try:
        described = admin.describe_topics(names)
    finally:
        admin.close()
    out = {}
    for entry in described:
        code = entry.get("error_code", 0)
        assert code in (0, TopicAuthorizationFailedError.errno), (entry["name"], code)
        out[entry["name"]] = code == 0
    return out


def _write(settings: Settings, described: dict[str, bool]) -> dict[str, bool]:
    """Produce a probe to every topic the broker describes to the principal (elsewhere the producer
    cannot find a leader: the metadata refusal is the write's, as for a read)."""
    producer = KafkaProducer(
        **client_config(settings), acks="all", retries=0, max_block_ms=10_000, retry_backoff_ms=5
    )
    out = {name: False for name, ok in described.items() if not ok}

    def write(name: str) -> bool:
        try:  # send() waits for the topic's metadata: many at once share the round trips
            producer.send(name, value=PROBE, partition=0).get(timeout=CHECK_TIMEOUT_S)
        except TopicAuthorizationFailedError:
            return False
        return True

    try:
        names = [n for n, ok in described.items() if ok]
        with ThreadPoolExecutor(max_workers=16) as pool:
            out.update(zip(names, pool.map(write, names), strict=True))
    finally:
        producer.close()
    return out


def _read(settings: Settings, probes: dict[str, int], described: dict[str, bool]) -> dict[str, bool]:
    """Fetch the probe of every topic; where the broker refused even to describe the topic (error 29
    in the metadata the consumer needs first), no fetch can be sent: that refusal is the answer."""
    out = {name: False for name, ok in described.items() if not ok}
    consumer = KafkaConsumer(
        **client_config(settings), group_id=None, enable_auto_commit=False, retry_backoff_ms=5
    )
    pending = {name for name, ok in described.items() if ok}

    def assign() -> None:
        parts = [TopicPartition(name, 0) for name in sorted(pending)]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, probes[tp.topic])

    try:
        assign()
        deadline = time.monotonic() + CHECK_TIMEOUT_S
        while pending:
            assert time.monotonic() < deadline, f"neither the probe nor a refusal on {sorted(pending)}"
            try:
                batch = consumer.poll(timeout_ms=500)
            except TopicAuthorizationFailedError as exc:  # the broker refused the fetch of these topics
                refused = set(exc.args[0]) if exc.args and isinstance(exc.args[0], set | frozenset) else set()
                assert refused and refused <= pending, exc
                out.update(dict.fromkeys(refused, False))
                pending -= refused
                assign()  # the other partitions again, from their probes
                continue
            for tp, records in batch.items():
                if tp.topic in pending and any(r.value == PROBE for r in records):
                    out[tp.topic] = True
                    pending.discard(tp.topic)
    finally:
        consumer.close()
    return out


def _group(settings: Settings, group: str, tp: TopicPartition) -> tuple[bool, bool]:
    """(describe, read) on ``group``: the offset fetch and the commit a member makes."""
    consumer = KafkaConsumer(**client_config(settings), group_id=group, enable_auto_commit=False)
    try:
        consumer.assign([tp])
        try:
            committed = consumer.committed(tp)
        except GroupAuthorizationFailedError:
            return False, False
        start = committed if committed is not None else consumer.beginning_offsets([tp])[tp]
        try:  # the same offset again (or the log start): nothing moves for the group's real members
            consumer.commit({tp: OffsetAndMetadata(start, "", -1)})
        except GroupAuthorizationFailedError:
            return True, False
        return True, True
    finally:
        consumer.close()


def _groups_to_check(plan: list[acl.Binding]) -> list[str]:
    literal = {b.name for b in plan if b.resource == GROUP and b.pattern == acl.Pattern.LITERAL}
    prefixed = {
        f"{b.name}-acl-probe" for b in plan if b.resource == GROUP and b.pattern == acl.Pattern.PREFIXED
    }
    return sorted(literal | prefixed | {"agencybus-unplanned-group"})


def _readable_topic(plan: list[acl.Binding], principal: str) -> TopicPartition:
    """A partition ``principal`` may read (the group checks need one), else any catalog topic."""
    for name in catalog_topics():
        if acl.allowed(plan, principal, TOPIC, name, READ):
            return TopicPartition(name, 0)
    return TopicPartition(tc.ALERTS_ALL.name, 0)


def test_every_principal_may_do_exactly_what_the_plan_allows_on_every_topic_and_group(
    kafka_principals: KafkaPrincipals, probes: dict[str, int]
) -> None:
    plan = kafka_principals.plan
    names = catalog_topics()
    groups = _groups_to_check(plan)
    matrix = Matrix()
    started = time.monotonic()

    def check(principal: acl.Principal) -> list[tuple[str, str, str, str, bool]]:
        """Every check of one principal (principals run side by side: most of it is waiting)."""
        who = principal.name
        settings = kafka_principals.settings(who)
        out = []
        described = _describe(settings, names)
        out += [(who, TOPIC, name, DESCRIBE, ok) for name, ok in described.items()]
        out += [(who, TOPIC, name, WRITE, ok) for name, ok in _write(settings, described).items()]
        out += [(who, TOPIC, name, READ, ok) for name, ok in _read(settings, probes, described).items()]
        tp = _readable_topic(plan, who)
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda group: _group(settings, group, tp), groups))
        for group, (group_described, read) in zip(groups, answers, strict=True):
            out.append((who, GROUP, group, DESCRIBE, group_described))
            # a commit also needs READ on the topic: only meaningful where the principal has one
            if acl.allowed(plan, who, TOPIC, tp.topic, READ) or not group_described:
                out.append((who, GROUP, group, READ, read))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        for outcomes in pool.map(check, acl.principals()):
            for principal, resource, name, op, ok in outcomes:
                matrix.record(principal, resource, name, op, ok)
    elapsed = time.monotonic() - started
    allowed = sum(matrix.outcomes.values())
    print(
        f"authorisation matrix: {len(matrix.outcomes)} checks ({allowed} allowed, "
        f"{len(matrix.outcomes) - allowed} refused by the broker) for {len(acl.principals())} principals, "
        f"{len(names)} topics, {len(groups)} groups in {elapsed:.1f} s"
    )
    assert matrix.mismatches(plan) == []
    # the cases the issue names, read back from the broker's answers
    assert not matrix.outcomes[("THUE", TOPIC, "alerts.ca.v1", READ)]
    for topic in tc.agency_topics():
        if topic.agency == "CA":
            assert not matrix.outcomes[("THUE", TOPIC, topic.name, READ)]
            assert not matrix.outcomes[("THUE", TOPIC, topic.name, WRITE)]
    for topic in tc.agency_topics("payment-block-request"):
        for code in set(reference.agencies()) - set(reference.payment_block_agencies()):
            assert not matrix.outcomes[(code, TOPIC, topic.name, WRITE)], (code, topic.name)
    assert [
        p for (p, r, n, o), ok in matrix.outcomes.items() if (n, o) == (tc.CASE_UPDATES.name, WRITE) and ok
    ] == ["agencybus-dashboard"]


def test_an_agency_that_may_not_request_blocks_cannot_write_a_request_topic_of_its_own_name(
    kafka_principals: KafkaPrincipals,
) -> None:
    """The DENY binding holds even if someone creates the topic the catalog never makes."""
    name = tc.agency_topic_prefix("THUE") + "payment-block-requests.v1"
    admin = kafka_principals.cluster.admin()
    try:
        admin.create_topics([NewTopic(name, 1, 3)])
        try:
            thue = kafka_principals.settings("THUE")
            deadline = time.monotonic() + 30
            while True:
                outcome = _write(thue, _describe(thue, [name, tc.agency_topic("violation", "THUE").name]))
                if outcome.get(name) is False or time.monotonic() > deadline:
                    break
                time.sleep(0.5)  # metadata of the new topic reaching every broker
            assert outcome == {name: False, tc.agency_topic("violation", "THUE").name: True}
        finally:
            admin.delete_topics([name])
    finally:
        admin.close()


def test_only_the_processors_create_their_internal_topics(kafka_principals: KafkaPrincipals) -> None:
    name = f"{acl.PROCESSORS_PREFIX}-acl-probe-{uuid.uuid4().hex[:8]}-changelog"
    for principal in ("QLTT", "agencybus-dashboard", "agencybus-gateway"):
        admin = make_admin(kafka_principals.settings(principal))
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                _create(admin, name)
        finally:
            admin.close()
    processors = make_admin(kafka_principals.settings("agencybus-processors"))
    try:
        _create(processors, name)
        deadline = time.monotonic() + 20
        while name not in processors.list_topics():
            assert time.monotonic() < deadline, f"{name} created by the processors but never listed"
            time.sleep(0.2)
    finally:
        processors.close()
    admin = kafka_principals.cluster.admin()
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


def _create(admin: Any, name: str) -> None:
    admin.create_topics([NewTopic(name, 1, 3)])  # raises the broker's error (kafka-python 3: raise_errors)


def _broker_log_lines(kafka_principals: KafkaPrincipals, needle: str) -> int:
    """How many lines of the brokers' logs mention ``needle`` (what the broker says it refused)."""
    logs = kafka_principals.cluster.directory.glob("node-*/kafka.log")
    return sum(text.count(needle) for text in (path.read_text(errors="replace") for path in logs))


def test_a_wrong_password_and_a_plaintext_connection_are_refused(kafka_principals: KafkaPrincipals) -> None:
    good = kafka_principals.settings("QLTT", kafka_bootstrap_timeout_ms=4000)
    bad_credentials = "invalid credentials with SASL mechanism SCRAM-SHA-512"
    before = _broker_log_lines(kafka_principals, bad_credentials)
    wrong = good.model_copy(update={"sasl_password": SecretStr("not-the-password")})
    with pytest.raises(KafkaError):
        make_admin(wrong).close()
    assert (
        _broker_log_lines(kafka_principals, bad_credentials) > before
    )  # the broker refused it, not a network
    ssl_failed = "SSL handshake failed"
    before = _broker_log_lines(kafka_principals, ssl_failed)
    plaintext = good.model_copy(update={"security_protocol": "PLAINTEXT"})
    with pytest.raises(KafkaError):
        make_admin(plaintext).close()
    deadline = time.monotonic() + 10  # the broker logs the failed handshake when it gives up on it
    while _broker_log_lines(kafka_principals, ssl_failed) == before:
        assert time.monotonic() < deadline, "no broker logged refusing the plaintext connection"
        time.sleep(0.5)
    make_admin(good).close()  # the same principal with its password over TLS connects


def test_apply_is_idempotent_and_removes_bindings_the_plan_no_longer_has(
    kafka_principals: KafkaPrincipals,
) -> None:
    admin = kafka_principals.cluster.admin()
    try:
        again = apply_plan(admin, kafka_principals.credentials_dir)
        assert (again.users_created, again.bindings_created, again.bindings_deleted) == ([], [], [])
        assert again.bindings_unchanged == len(kafka_principals.plan)
        # a binding the plan does not have, on a managed principal: apply takes it away again
        from agencybus.acl_apply import to_kafka

        stray = acl.Binding("THUE", TOPIC, "alerts.ca.v1", acl.Pattern.LITERAL, READ)
        admin.create_acls([to_kafka(stray)])
        swept = apply_plan(admin, kafka_principals.credentials_dir)
        assert swept.bindings_deleted == ["THUE TOPIC alerts.ca.v1 LITERAL READ ALLOW"]
        assert swept.bindings_created == []
    finally:
        admin.close()


def test_apply_waits_until_every_broker_authenticates_a_new_login(
    kafka_principals: KafkaPrincipals, tmp_path: Path
) -> None:
    """Right after the credential is set, each broker alone accepts it; a wrong password never passes."""
    from agencybus.acl_apply import write_credentials

    cluster = kafka_principals.cluster
    user = f"acl-probe-{uuid.uuid4().hex[:8]}"
    password = cluster.create_user(user)
    write_credentials(credentials_file(tmp_path, user), user, password)
    admin = cluster.admin()
    try:
        brokers = broker_addresses(admin)
    finally:
        admin.close()
    assert len(brokers) == 3, brokers
    wait_until_usable(cluster.settings(), brokers, [user], tmp_path)
    for broker in brokers:  # each broker on its own, the way a role meets whichever one it reaches first
        make_admin(cluster.settings(user, password, bootstrap_servers=broker)).close()
    wrong = tmp_path / "wrong"
    write_credentials(credentials_file(wrong, user), user, "not-the-password")
    with pytest.raises(AclApplyError, match="still refused"):
        wait_until_usable(cluster.settings(), brokers[:1], [user], wrong, timeout_s=3)
