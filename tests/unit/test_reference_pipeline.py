"""The in-process reference pipeline: one seller's story across agencies becomes one case with versions."""

from __future__ import annotations

import pytest

from processors.cases import Correlator
from processors.identity import IdentityResolver, load_warninglist
from processors.ingest import RejectedRecord
from processors.reference import ReferencePipeline
from processors.rules import load_rules
from schemas import codec, topics
from schemas.examples import example_events


def _pipeline() -> ReferencePipeline:
    resolver = IdentityResolver.in_memory(namespace="ref-test", warninglist=load_warninglist())
    return ReferencePipeline(resolver, Correlator(load_rules()))


def test_the_example_story_is_one_case_whose_versions_accumulate_rules() -> None:
    pipeline = _pipeline()
    versions = []
    for event in example_events():
        if not event.EVENT_TYPE.agency_event:
            continue
        topic = topics.agency_topic(event.EVENT_TYPE, event.header.agency)
        encoded = codec.encode_event(event)
        versions += pipeline.feed(topic.name, encoded.value, encoded.headers)
    assert len({v.case_id for v in versions}) == 1
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    last_rules = {r["rule_id"] for r in versions[-1].rules}
    assert {"counterfeit-tax-180d", "payment-block-request"} <= last_rules


def test_a_record_that_is_not_an_agency_event_is_refused() -> None:
    with pytest.raises(RejectedRecord, match="cannot decode"):
        _pipeline().feed(topics.agency_topic("violation", "QLTT").name, b"not avro", None)


def test_summaries_carry_what_rule_filters_look_at() -> None:
    """Outcome, platforms and legal document reach the rules from the decoded record."""
    from processors.ingest import ingest

    (inspection,) = [e for e in example_events() if e.EVENT_TYPE.key == "inspection"]
    encoded = codec.encode_event(inspection)
    summary = ingest(
        topics.agency_topic(inspection.EVENT_TYPE, inspection.header.agency).name,
        encoded.value,
        encoded.headers,
    ).event
    assert summary is not None
    assert summary.outcome == "VIOLATION_FOUND"
    assert summary.legal_document == inspection.legal_basis.legal_document  # type: ignore[attr-defined]
    assert summary.platforms == sorted({s.platform.value for s in inspection.seller.shops})  # type: ignore[attr-defined]
