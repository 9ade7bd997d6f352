"""Every consumer of the event-type table handles every type: no type is silently dead-lettered.

Each test walks ``schemas.event_types.all_types()``, so a type added to the table that one of
the roles has no handling for fails here, naming the type and the role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agencybus import acl
from agencybus.i18n import translator
from consumers.steering import ingest as dashboard_ingest
from consumers.steering import store as st
from processors.ingest import source_topics
from processors.rules import filter_fields
from producers import simulator
from producers.file_import import columns_for, importable_types
from schemas import catalog, reference
from schemas import event_types as et
from schemas import topics as tc
from schemas.examples import example_events
from schemas.models import MODELS
from tests.throwaway_type import temporary_recall

TYPES = et.all_types()


@pytest.mark.parametrize("etype", TYPES, ids=lambda t: t.key)
def test_every_descriptor_is_consistent_and_has_a_schema_a_model_and_an_example(etype: et.EventType) -> None:
    etype.check()
    assert catalog.latest(etype.record_name).record_name == etype.record_name
    assert etype.model.EVENT_TYPE is etype
    assert MODELS[etype.record_name] is etype.model
    assert [type(e) for e in example_events()].count(etype.model) == 1


def topics_of(etype: et.EventType) -> list[str]:
    if etype.agency_event:
        return [t.name for t in tc.agency_topics(etype)]
    if etype.published_by == et.PLATFORM:
        return [t.name for t in tc.platform_answer_topics() if t.event_type == etype]
    return [etype.topic]


@pytest.mark.parametrize("etype", TYPES, ids=lambda t: t.key)
def test_every_type_has_topics_in_the_catalog(etype: et.EventType) -> None:
    names = {t.name for t in tc.all_topics(sorted(reference.alert_agencies()))}
    assert topics_of(etype), f"{etype.key}: no topic"
    assert set(topics_of(etype)) <= names


@pytest.mark.parametrize("etype", TYPES, ids=lambda t: t.key)
def test_the_dashboard_projects_every_type_it_reads_and_reads_none_it_cannot(etype: et.EventType) -> None:
    read = set(dashboard_ingest.dashboard_topics())
    if etype.projection == et.NOT_PROJECTED:
        assert read.isdisjoint(topics_of(etype)), f"{etype.key}: read but not projected (dead letters)"
        return
    assert etype.projection in st.PROJECTIONS, f"{etype.key}: store has no projection {etype.projection!r}"
    for name in topics_of(etype):
        assert name in read, f"{etype.key}: dashboard does not read {name}"
        assert dashboard_ingest.expected_records(name) == {etype.record_name}


def test_the_dashboard_reads_only_topics_of_types_it_projects() -> None:
    for name in dashboard_ingest.dashboard_topics():
        for record in dashboard_ingest.expected_records(name) or ():
            assert et.BY_RECORD[record].projection in st.PROJECTIONS, name


def test_every_projection_a_descriptor_may_name_has_a_store_writer() -> None:
    assert set(st.PROJECTIONS) == set(et.PROJECTIONS)


def test_the_store_refuses_a_record_it_has_no_type_for_by_name() -> None:
    with pytest.raises(st.StoreError, match="'NoSuchRecord' is not one the dashboard consumes"):
        st.Store("sqlite://").apply("NoSuchRecord", {})


@pytest.mark.parametrize("etype", et.agency_topic_types(), ids=lambda t: t.key)
def test_the_processors_read_every_agency_topic(etype: et.EventType) -> None:
    assert set(topics_of(etype)) <= set(source_topics())


@pytest.mark.parametrize("etype", et.agency_events(), ids=lambda t: t.key)
def test_every_agency_event_is_read_summarised_importable_labelled_and_filtered(etype: et.EventType) -> None:
    assert {t.name for t in tc.agency_topics(etype)} <= set(source_topics())
    (example,) = [e for e in example_events() if type(e) is etype.model]
    summary = etype.summarise(example.to_avro())
    assert summary.text and summary.fields
    assert importable_types()[etype.key] == etype
    assert columns_for(etype.record_name)
    assert translator("vi").event_type(etype.key) == etype.labels["vi"]
    assert translator("en").event_type(etype.key) == etype.labels["en"]
    fields = filter_fields()
    for name in etype.filters:
        assert etype.key in fields[name]
    assert etype.key in fields["agencies"] and etype.key in fields["platforms"]


@pytest.mark.parametrize("etype", et.agency_topic_types(), ids=lambda t: t.key)
def test_the_acl_plan_denies_each_agency_the_types_it_may_not_publish(etype: et.EventType) -> None:
    denied = {
        b.name for b in acl.plan() if b.permission == acl.Permission.DENY and b.resource == acl.Resource.TOPIC
    }
    for code, agency in reference.agencies().items():
        name = f"{tc.agency_topic_prefix(code)}{etype.topic}.v{etype.major}"
        assert (name in denied) == (not etype.may_publish(agency)), name


def test_a_descriptor_that_contradicts_itself_is_refused_with_the_field() -> None:
    base = et.VIOLATION
    bad = {
        "topic": et.EventType("x", "X", topic="", labels=base.labels, summary=base.summary),
        "published_by": et.EventType("x", "X", topic="xs", published_by="police", labels=base.labels),
        "projection": et.EventType("x", "X", topic="xs", projection="nowhere", labels=base.labels),
        "summary": et.EventType("x", "X", topic="xs", labels=base.labels),
        "labels": et.EventType("x", "X", topic="xs", summary=base.summary, labels={"vi": "X"}),
        "filters": et.EventType(
            "x", "X", topic="xs", summary=base.summary, labels=base.labels, filters=frozenset({"colour"})
        ),
    }
    for field, etype in bad.items():
        with pytest.raises(ValueError, match=field):
            etype.check()
    with pytest.raises(ValueError, match="key 'violation' is violation's"):
        et.register(
            et.EventType("violation", "Other", topic="others", summary=base.summary, labels=base.labels)
        )
    assert et.all_types() == TYPES


def test_summaries_keep_their_fields_and_render_through_a_translation() -> None:
    record = {
        "categories": ["COUNTERFEIT"],
        "product_categories": [],
        "description": "hàng giả",
        "legal_basis": {"decision_number": "12/QĐ-XPHC"},
        "fine_vnd": 15_000_000,
    }
    summary = et.VIOLATION.summarise(record)
    assert summary.text == "Violation [COUNTERFEIT]: hàng giả (decision 12/QĐ-XPHC), fine 15,000,000 VND"
    assert summary.fields["fine_vnd"] == 15_000_000
    vi = {
        "Violation [{categories}]: {description}": "Vi phạm [{categories}]: {description}",
        " (decision {decision_number})": " (QĐ {decision_number})",
        ", fine {fine_vnd:,} VND": ", phạt {fine_vnd:,} đồng",
    }
    assert (
        summary.render(vi.__getitem__)
        == "Vi phạm [COUNTERFEIT]: hàng giả (QĐ 12/QĐ-XPHC), phạt 15,000,000 đồng"
    )


@pytest.mark.parametrize("etype", TYPES, ids=lambda t: t.key)
def test_a_type_is_signed_exactly_when_its_schema_carries_a_signature(etype: et.EventType) -> None:
    fields = {f["name"] for f in catalog.latest(etype.record_name).raw["fields"]}
    assert etype.signed == ({"signature", "signing_key_id"} <= fields), etype.key


@pytest.mark.parametrize("etype", TYPES, ids=lambda t: t.key)
def test_the_fields_demo_prints_and_the_import_fills_are_fields_of_the_record(etype: et.EventType) -> None:
    fields = {f["name"] for f in catalog.latest(etype.record_name).raw["fields"]}
    assert set(etype.key_fields) <= fields, etype.key
    assert etype.import_id_field is None or etype.import_id_field in fields


def ids(events: list[Any]) -> list[str]:
    return [str(e.header.event_id) for e in events]


def test_the_simulator_generates_a_type_added_with_a_hook_and_nothing_else_changes(tmp_path: Path) -> None:
    before = ids(simulator.generate(seed=3, sellers=300, events=800).events)
    with temporary_recall(tmp_path) as recall:
        events = simulator.generate(seed=3, sellers=300, events=800).events
        recalls = [e for e in events if recall == e.EVENT_TYPE]
        assert recalls and {e.header.agency for e in recalls} == {"SYT"}
        assert all(recall.model.model_validate(e.model_dump()) == e for e in recalls)
    assert [
        str(e.header.event_id) for e in simulator.generate(seed=3, sellers=300, events=800).events
    ] == before
