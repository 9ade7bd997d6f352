"""The alert writer's values are fastavro's encoding of the whole record, byte for byte."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import processors.alert_writer as alert_writer_module
from processors.alert_writer import AlertWriter
from processors.cases import CaseSnapshot
from processors.events import EventSummary
from processors.routing import route
from schemas import codec
from schemas.codec import EncodeError
from schemas.event_types import JOINT_CASE_ALERT

T0 = 1_767_225_600_000
AGENCIES = ["QLTT", "CA", "THUE", "SCT", "KHCN", "YTE"]
SHARING = ["CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"]


@st.composite
def summaries(draw: st.DrawFn) -> EventSummary:
    return EventSummary(
        event_id=str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        event_type=draw(st.sampled_from(["violation", "tax-anomaly", "complaint", "inspection"])),
        agency=draw(st.sampled_from(AGENCIES)),
        occurred_at=draw(st.integers(0, 2**42)),
        recorded_at=draw(st.integers(0, 2**42)),
        sharing=draw(st.sampled_from(SHARING)),
        commune_code=draw(st.none() | st.integers(0, 99_999).map(lambda n: f"{n:05d}")),
        seller_name=draw(st.none() | st.text(max_size=30)),
        tokens=draw(st.lists(st.text(min_size=1, max_size=20), max_size=4)),
        summary=draw(st.text(max_size=80)),
    )


@st.composite
def snapshots(draw: st.DrawFn) -> CaseSnapshot:
    evidence = draw(st.lists(summaries(), max_size=12))
    return CaseSnapshot(
        case_id=f"JC-{draw(st.text('0123456789abcdef', min_size=1, max_size=16))}",
        cluster_id=f"S-{draw(st.text('0123456789abcdef', min_size=1, max_size=16))}",
        version=draw(st.integers(1, 2**31 - 1)),
        status=draw(st.sampled_from(["OPEN", "CLOSED", "MERGED"])),
        merged_into=draw(st.none() | st.just("JC-survivor")),
        severity=draw(st.sampled_from(["LOW", "MEDIUM", "HIGH", "CRITICAL"])),
        rules=[
            {"rule_id": r, "title": f"Rule {r}", "severity": "HIGH", "fired_at": T0 + i}
            for i, r in enumerate(draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True)))
        ],
        recipients=draw(st.lists(st.sampled_from(AGENCIES), max_size=4, unique=True)),
        evidence=evidence,
        opened_at=T0,
        updated_at=T0 + draw(st.integers(0, 10**9)),
    )


WRITER = AlertWriter(cache_size=64)  # small: the hypothesis run also goes through evictions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # big cases, busy CI
@given(snapshots())
def test_every_routed_copy_encodes_exactly_as_fastavro_writes_the_whole_record(snap: CaseSnapshot) -> None:
    for routed in route(snap, "38"):
        expected = codec.encode(routed.record, "JointCaseAlert")
        assert WRITER.encode(routed.record) == expected
        assert WRITER.encode(routed.record) == expected  # the second time from the item cache


def test_items_are_encoded_once_and_reused_across_copies_and_versions() -> None:
    writer = AlertWriter()
    item = EventSummary(str(uuid.uuid4()), "violation", "QLTT", T0, T0, "GREEN", "38001", "Shop", ["tax:1"])
    other = EventSummary(str(uuid.uuid4()), "complaint", "CA", T0, T0, "GREEN", None, None, ["tax:1"])
    first = CaseSnapshot("JC-1", "S-1", 1, "OPEN", None, "HIGH", [], ["QLTT"], [item], T0, T0)
    second = CaseSnapshot("JC-1", "S-1", 2, "OPEN", None, "HIGH", [], ["QLTT"], [item, other], T0, T0)
    for snap in (first, second):
        for routed in route(snap, "38"):
            assert codec.decode(writer.encode(routed.record))[1]["case_id"] == "JC-1"
    assert (writer.misses, writer.hits) == (2, 4)  # 4 copies carry 6 items, 2 of them distinct


def test_a_record_that_does_not_fit_gets_the_codecs_explanation() -> None:
    writer = AlertWriter()
    snap = CaseSnapshot("JC-1", "S-1", 1, "OPEN", None, "HIGH", [], [], [], T0, T0)
    record: dict[str, Any] = route(snap, "38")[0].record
    with pytest.raises(EncodeError, match="unknown"):
        writer.encode({**record, "unknown": 1})
    with pytest.raises(EncodeError, match="severity"):
        writer.encode({**record, "severity": "APOCALYPTIC"})


def _expected(record: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    return codec.encode(record, "JointCaseAlert"), codec.cloudevent_headers(JOINT_CASE_ALERT, record)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshots(), min_size=1, max_size=3))
def test_copies_written_together_are_byte_identical_to_each_written_alone(snaps: list[CaseSnapshot]) -> None:
    # one version's copies, and (as any caller may pass) copies of several versions mixed
    for records in [[r.record for r in route(s, "38")] for s in snaps] + [
        [r.record for s in snaps for r in route(s, "38")]
    ]:
        assert WRITER.encode_copies(records) == [_expected(r) for r in records]


def test_a_version_shared_by_its_audiences_is_written_once(monkeypatch: pytest.MonkeyPatch) -> None:
    item = EventSummary(str(uuid.uuid4()), "violation", "QLTT", T0, T0, "GREEN", "38001", "Shop", ["tax:1"])
    red = EventSummary(str(uuid.uuid4()), "complaint", "CA", T0, T0, "RED", None, None, ["tax:1"])
    hit = {
        "rule_id": "r",
        "title": "R",
        "severity": "HIGH",
        "fired_at": T0,
        "evidence_ids": [f"QLTT/{item.event_id}"],
    }
    snap = CaseSnapshot(
        "JC-1", "S-1", 2, "OPEN", None, "HIGH", [hit], ["QLTT", "THUE", "SCT"], [item, red], T0, T0
    )
    records = [r.record for r in route(snap, "38")]  # ALL sees both items; the three agencies only one
    writes: list[Any] = []
    real_write = alert_writer_module._write

    def counting(schema: Any, datum: Any) -> bytes:
        writes.append(schema)
        return real_write(schema, datum)

    monkeypatch.setattr(alert_writer_module, "_write", counting)
    writer = AlertWriter()
    assert writer.encode_copies(records) == [_expected(r) for r in records]
    assert sum(1 for s in writes if s == "string") == 8  # per copy its event id and its audience
    runs = [schema for _, schema, values in writer._steps or [] if values is not None]
    # two views (ALL sees the RED item, the agencies do not): the header's other fields differ
    # (sharing), case id and version do not, the fields between audience and evidence do not
    # (same rule on the GREEN item, tokens, name and communes), the withheld counts after the evidence do
    assert [sum(1 for s in writes if s is run) for run in runs] == [2, 1, 1, 2]
    assert writer.misses == 2  # each evidence item encoded once, whoever sees it


def test_a_bad_copy_among_good_ones_gets_the_codecs_explanation() -> None:
    snap = CaseSnapshot("JC-1", "S-1", 1, "OPEN", None, "HIGH", [], ["QLTT"], [], T0, T0)
    good, other = (r.record for r in route(snap, "38"))
    with pytest.raises(EncodeError, match="severity"):
        AlertWriter().encode_copies([good, {**other, "severity": "APOCALYPTIC"}])
