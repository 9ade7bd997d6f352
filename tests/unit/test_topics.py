"""The topic catalog's per-agency topics: names, who may publish what, and the claim check."""

from __future__ import annotations

import pytest

from schemas import reference
from schemas import topics as tc
from schemas.event_types import PAYMENT_BLOCK_REQUEST, VIOLATION, agency_events


def test_every_agency_has_its_own_topic_per_event_type_and_only_block_agencies_a_request_topic() -> None:
    registry = reference.agencies()
    names = {t.name for t in tc.agency_topics()}
    for code, agency in registry.items():
        for etype in agency_events():
            name = f"agency.{code.lower()}.{tc.agency_kinds()[etype.key]}.v1"
            allowed = etype != PAYMENT_BLOCK_REQUEST or agency.may_request_payment_blocks
            assert (name in names) == allowed, name
    assert "agency.thue.payment-block-requests.v1" not in names
    assert {t.agency for t in tc.agency_topics(PAYMENT_BLOCK_REQUEST)} == set(
        reference.payment_block_agencies()
    )


def test_agency_topic_and_find_agency_topic_are_inverse() -> None:
    for topic in tc.agency_topics():
        found = tc.find_agency_topic(topic.name)
        assert found is not None and (found.agency, found.event_type) == (topic.agency, topic.event_type)
        assert tc.topic_for(topic.event_type.key, topic.agency) == topic  # type: ignore[union-attr]
    not_agency_topics = (
        "alerts.all.v1",
        "cases.updates.v1",
        "agency.violations.v1",
        "agency.qltt.unknown.v1",
        "dlq.agency.qltt.violations.v1",
        "agency..violations.v1",
        "agency.qltt.violations.v2",
    )
    for name in not_agency_topics:
        assert tc.find_agency_topic(name) is None, name


def test_a_publisher_that_may_not_request_blocks_has_no_request_topic() -> None:
    with pytest.raises(KeyError, match=r"THUE may not request payment blocks.*\['CA', 'QLTT', 'SCT'\]"):
        tc.agency_topic(PAYMENT_BLOCK_REQUEST, "THUE")
    with pytest.raises(KeyError, match="unknown agency 'XYZ'"):
        tc.agency_topic(VIOLATION, "XYZ")
    with pytest.raises(KeyError, match="name the agency"):
        tc.topic_for("violation")
    assert tc.topic_for("case-update").name == "cases.updates.v1"


def test_claim_check_refuses_only_a_record_naming_another_agency_than_its_topics() -> None:
    tc.check_claim("agency.ca.violations.v1", "CA")
    tc.check_claim("cases.updates.v1", "BCD389")  # not an agency topic: the ACL says who writes it
    with pytest.raises(tc.ClaimMismatch, match=r"'QLTT'.*agency\.ca\.violations\.v1.*only CA"):
        tc.check_claim("agency.ca.violations.v1", "QLTT")


def test_catalog_has_a_dead_letter_topic_for_every_agency_topic() -> None:
    names = {t.name for t in tc.all_topics(sorted(reference.alert_agencies()))}
    for topic in tc.agency_topics():
        assert topic.name in names and topic.dlq in names
