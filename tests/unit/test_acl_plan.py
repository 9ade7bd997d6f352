"""The ACL plan generated from the registry and the catalog: least privilege, as the broker will decide it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agencybus import acl
from agencybus.acl_apply import AclApplyError, read_password, write_credentials
from schemas import reference
from schemas import topics as tc
from schemas.event_types import PAYMENT_BLOCK_REQUEST, TAKEDOWN_REQUEST
from schemas.platforms import platform_codes

PLAN_FILE = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "acl-plan.tsv"
TOPIC, GROUP = acl.Resource.TOPIC, acl.Resource.GROUP
READ, WRITE, DESCRIBE = acl.Operation.READ, acl.Operation.WRITE, acl.Operation.DESCRIBE


@pytest.fixture(scope="module")
def plan() -> list[acl.Binding]:
    return acl.plan()


def catalog() -> list[str]:
    return [t.name for t in tc.all_topics(sorted(reference.alert_agencies()))]


def who(plan: list[acl.Binding], resource: acl.Resource, name: str, op: acl.Operation) -> set[str]:
    return {p.name for p in acl.principals() if acl.allowed(plan, p.name, resource, name, op)}


def test_deploy_plan_file_is_the_generated_plan(plan: list[acl.Binding]) -> None:
    assert PLAN_FILE.read_text(encoding="utf-8") == acl.as_tsv(plan), (
        "deploy/kafka/acl-plan.tsv is stale: run `agencybus acl plan --tsv > deploy/kafka/acl-plan.tsv`"
    )


def test_one_principal_per_agency_and_per_role() -> None:
    names = [p.name for p in acl.principals()]
    assert len(names) == len(set(names))
    agencies = set(reference.agencies())
    assert agencies <= set(names)
    assert {"agencybus-processors", "agencybus-gateway", "agencybus-dashboard", "agencybus-bank"} <= set(
        names
    )
    assert {f"forwarder-{c.lower()}" for c in reference.alert_agencies()} <= set(names)


def test_an_agency_writes_only_its_own_topics_and_reads_only_its_own_alerts(plan: list[acl.Binding]) -> None:
    for topic in tc.agency_topics():
        assert who(plan, TOPIC, topic.name, WRITE) == {topic.agency, "agencybus-gateway"} | (
            {"agencybus-dashboard"} if topic.event_type == TAKEDOWN_REQUEST else set()
        ), topic.name
        assert who(plan, TOPIC, topic.name, READ) == {"agencybus-processors", "agencybus-dashboard"} | (
            {"agencybus-bank"} if topic.event_type == PAYMENT_BLOCK_REQUEST else set()
        ) | (
            {f"forwarder-platform-{c.lower()}" for c in platform_codes()}
            if topic.event_type == TAKEDOWN_REQUEST
            else set()
        )
    assert not acl.allowed(plan, "THUE", TOPIC, "alerts.ca.v1", READ)
    assert not acl.allowed(plan, "THUE", TOPIC, "alerts.ca.v1", DESCRIBE)
    assert not acl.allowed(plan, "THUE", TOPIC, "agency.ca.violations.v1", READ)
    assert acl.allowed(plan, "THUE", TOPIC, "alerts.thue.v1", READ)
    assert acl.allowed(plan, "THUE", GROUP, "forwarder-thue", READ)
    assert not acl.allowed(plan, "THUE", GROUP, "forwarder-ca", READ)


def test_only_agencies_allowed_by_the_registry_can_write_a_request_topic(plan: list[acl.Binding]) -> None:
    allowed = reference.payment_block_agencies()
    for code in reference.agencies():
        name = f"agency.{code.lower()}.payment-block-requests.v1"  # exists only for allowed agencies
        assert acl.allowed(plan, code, TOPIC, name, WRITE) == (code in allowed), code
        assert acl.allowed(plan, "agencybus-gateway", TOPIC, name, WRITE) == (code in allowed), code


def test_only_agencies_allowed_by_the_registry_can_write_a_takedown_topic(plan: list[acl.Binding]) -> None:
    allowed = reference.takedown_agencies()
    for code in reference.agencies():
        name = f"agency.{code.lower()}.takedown-requests.v1"
        assert acl.allowed(plan, code, TOPIC, name, WRITE) == (code in allowed), code
        assert acl.allowed(plan, "agencybus-gateway", TOPIC, name, WRITE) == (code in allowed), code


def test_a_platform_writes_only_its_answer_topic_and_reads_nothing(plan: list[acl.Binding]) -> None:
    for code in platform_codes():
        answers = tc.platform_answer_topic(code).name
        assert who(plan, TOPIC, answers, WRITE) == {code}
        assert who(plan, TOPIC, answers, READ) == {"agencybus-dashboard"}
        for name in catalog():
            if name != answers:
                assert not acl.allowed(plan, code, TOPIC, name, WRITE), (code, name)
            assert not acl.allowed(plan, code, TOPIC, name, READ), (code, name)
    assert not acl.allowed(plan, "SHOPEE", TOPIC, "platform.lazada.takedown-answers.v1", WRITE)
    assert acl.allowed(plan, "forwarder-platform-shopee", GROUP, "forwarder-platform-shopee", READ)
    assert not acl.allowed(plan, "forwarder-platform-shopee", TOPIC, "agency.qltt.violations.v1", READ)


def test_roles_get_exactly_what_the_issue_names(plan: list[acl.Binding]) -> None:
    assert who(plan, TOPIC, tc.CASE_UPDATES.name, WRITE) == {"agencybus-dashboard"}
    assert who(plan, TOPIC, tc.PAYMENT_BLOCK_STATUS.name, WRITE) == {"agencybus-bank"}
    assert who(plan, TOPIC, tc.ALERTS_ALL.name, WRITE) == {"agencybus-processors"}
    assert who(plan, TOPIC, tc.ALERTS_ALL.name, READ) == {"agencybus-dashboard"}
    for code in reference.alert_agencies():
        alerts = tc.alert_topic_name(code)
        assert who(plan, TOPIC, alerts, READ) == {code, f"forwarder-{code.lower()}"}
        assert who(plan, TOPIC, alerts, WRITE) == {"agencybus-processors"}
        assert who(plan, GROUP, f"forwarder-{code.lower()}", READ) == {code, f"forwarder-{code.lower()}"}
    assert who(plan, GROUP, acl.BANK_GROUP, READ) == {"agencybus-bank"}
    assert who(plan, GROUP, "agencybus-processors", READ) == {"agencybus-processors"}
    assert who(plan, TOPIC, "agencybus-processors-correlate", acl.Operation.CREATE) == {
        "agencybus-processors"
    }


def test_every_consumer_may_write_the_dead_letters_of_what_it_reads_and_nothing_else_is_readable(
    plan: list[acl.Binding],
) -> None:
    for name in catalog():
        if name.startswith("dlq."):
            assert who(plan, TOPIC, name, READ) == set(), name  # dead letters: the operator (admin) only
            continue
        readers = who(plan, TOPIC, name, READ) - set(reference.agencies())
        if name == tc.PAYMENT_BLOCK_STATUS.name:
            readers.discard("agencybus-bank")  # its relay re-reads its own replies; nothing to dead-letter
        for reader in readers:
            assert acl.allowed(plan, reader, TOPIC, tc.dead_letter_topic(name), WRITE), (reader, name)


def test_credentials_are_written_once_for_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "creds" / "QLTT.env"
    write_credentials(path, "QLTT", "s3cret-value")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_password(path) == "s3cret-value"
    assert "AGENCYBUS_SASL_USERNAME=QLTT" in path.read_text()
    with pytest.raises(FileExistsError):
        write_credentials(path, "QLTT", "another")
    assert read_password(path) == "s3cret-value"
    (tmp_path / "bad.env").write_text("nothing\n")
    with pytest.raises(AclApplyError, match="no AGENCYBUS_SASL_PASSWORD"):
        read_password(tmp_path / "bad.env")
