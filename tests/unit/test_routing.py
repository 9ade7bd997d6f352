"""Routing: every copy honours each evidence item's sharing level and counts what it withholds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.cases import CaseSnapshot
from processors.events import EventSummary
from processors.routing import ALERT_NAMESPACE, AUDIENCE_ALL, alert_event_id, route
from schemas.sharing import may_see, withheld_text

T0 = 1_767_225_600_000


def item(n: int, agency: str, sharing: str) -> EventSummary:
    return EventSummary(
        event_id=str(uuid.UUID(int=n)),
        event_type="violation",
        agency=agency,
        occurred_at=T0 + n,
        recorded_at=T0 + n + 10,
        sharing=sharing,
        commune_code=f"1{n:04d}",
        seller_name=f"Shop {agency}",
        tokens=[f"tax:01000000{n:02d}"],
        summary=f"item {n}",
    )


def snapshot(evidence: list[EventSummary], recipients: list[str]) -> CaseSnapshot:
    return CaseSnapshot(
        case_id="JC-abc",
        cluster_id="S-abc",
        version=3,
        status="OPEN",
        merged_into=None,
        severity="HIGH",
        rules=[{"rule_id": "r", "title": "R", "severity": "HIGH", "fired_at": T0}],
        recipients=recipients,
        evidence=evidence,
        opened_at=T0,
        updated_at=T0 + 100,
    )


def copies(snap: CaseSnapshot) -> dict[str, dict[str, Any]]:
    return {r.audience: r.record for r in route(snap, "38")}


def visible_ids(record: dict[str, Any]) -> set[str]:
    return {e["event_id"] for e in record["evidence"]}


def test_every_version_goes_to_all_and_each_recipient_topic() -> None:
    routed = route(snapshot([item(1, "QLTT", "AMBER")], ["BCD389", "QLTT", "THUE"]), "38")
    assert [(r.topic, r.audience, r.key) for r in routed] == [
        ("alerts.all.v1", "ALL", "JC-abc"),
        ("alerts.bcd389.v1", "BCD389", "JC-abc"),
        ("alerts.qltt.v1", "QLTT", "JC-abc"),
        ("alerts.thue.v1", "THUE", "JC-abc"),
    ]


def test_red_reaches_only_its_own_agency_and_the_steering_committee() -> None:
    red = item(1, "CA", "RED")
    out = copies(snapshot([red, item(2, "QLTT", "AMBER")], ["BCD389", "CA", "QLTT"]))
    assert red.event_id in visible_ids(out[AUDIENCE_ALL])
    assert red.event_id in visible_ids(out["BCD389"]) and red.event_id in visible_ids(out["CA"])
    assert red.event_id not in visible_ids(out["QLTT"])
    assert out["QLTT"]["withheld_count"] == 1 and out["QLTT"]["withheld"] == []
    assert withheld_text(out["QLTT"]["withheld_count"]) == "1 item withheld"
    assert out["QLTT"]["seller_tokens"] == ["tax:0100000002"]  # tokens of withheld evidence stay withheld
    assert out["CA"]["header"]["sharing"] == "RED" and out["QLTT"]["header"]["sharing"] == "AMBER"


def test_amber_reaches_the_case_recipients_only() -> None:
    amber = {"agency": "CA", "sharing": "AMBER"}
    assert may_see("QLTT", amber, ["QLTT", "CA"])
    assert not may_see("SYT", amber, ["QLTT", "CA"])
    out = copies(snapshot([item(1, "CA", "AMBER"), item(2, "CA", "AMBER")], ["CA", "QLTT"]))
    assert len(out["QLTT"]["evidence"]) == 2 and out["QLTT"]["withheld_count"] == 0


def test_amber_strict_stays_with_the_issuing_agency() -> None:
    strict = item(1, "CA", "AMBER_STRICT")
    out = copies(snapshot([strict, item(2, "QLTT", "GREEN")], ["BCD389", "CA", "QLTT", "SYT"]))
    for agency in ("QLTT", "SYT"):
        assert strict.event_id not in visible_ids(out[agency])
        assert out[agency]["withheld_count"] == 1
        assert "tax:0100000001" not in out[agency]["seller_tokens"]
    assert strict.event_id in visible_ids(out["CA"]) and strict.event_id in visible_ids(out["BCD389"])


@pytest.mark.parametrize("level", ["GREEN", "CLEAR"])
def test_green_and_clear_reach_every_agency(level: str) -> None:
    assert may_see("SYT", {"agency": "CA", "sharing": level}, ["CA"])
    assert may_see("HQ", {"agency": "CA", "sharing": level}, [])


def test_unknown_level_fails_closed() -> None:
    assert not may_see("QLTT", {"agency": "CA", "sharing": "PURPLE"}, ["QLTT"])


def test_withheld_is_one_count_that_names_no_agency() -> None:
    ev = [item(1, "CA", "RED"), item(2, "CA", "RED"), item(3, "THUE", "RED"), item(4, "QLTT", "GREEN")]
    out = copies(snapshot(ev, ["CA", "QLTT", "THUE"]))
    assert out["QLTT"]["withheld_count"] == 3 and out["QLTT"]["withheld"] == []
    assert withheld_text(out["QLTT"]["withheld_count"]) == "3 items withheld"
    assert out["CA"]["withheld_count"] == 1
    assert out[AUDIENCE_ALL]["withheld_count"] == 0
    assert "THUE" not in str({k: v for k, v in out["QLTT"].items() if k != "recipients"})


def test_each_evidence_item_names_the_identifiers_it_brought() -> None:
    out = copies(snapshot([item(1, "CA", "RED"), item(2, "QLTT", "GREEN")], ["CA", "QLTT"]))
    assert [(e["seller_tokens"], e["seller_name"]) for e in out[AUDIENCE_ALL]["evidence"]] == [
        (["tax:0100000001"], "Shop CA"),
        (["tax:0100000002"], "Shop QLTT"),
    ]
    assert out["QLTT"]["seller_name"] == "Shop QLTT" and out[AUDIENCE_ALL]["seller_name"] == "Shop QLTT"


def test_alert_ids_and_times_are_deterministic() -> None:
    snap = snapshot([item(1, "CA", "AMBER")], ["CA"])
    assert route(snap, "38")[1].record == route(snap, "38")[1].record
    assert route(snap, "38")[1].record["header"]["event_id"] == alert_event_id("JC-abc", 3, "CA")
    assert alert_event_id("JC-abc", 3, "CA") != alert_event_id("JC-abc", 4, "CA")


def test_alert_record_encodes_with_the_contract() -> None:
    codec = pytest.importorskip("schemas.codec")
    record = route(snapshot([item(1, "CA", "RED")], ["CA", "QLTT"]), "38")[2].record
    data = codec.encode(record, "JointCaseAlert")
    _, decoded = codec.decode(data)
    assert decoded["case_id"] == "JC-abc" and decoded["withheld_count"] == 1


@given(st.text(max_size=40), st.integers(min_value=1, max_value=10**6), st.text(max_size=12))
def test_alert_event_id_is_the_rfc_4122_uuid5_of_case_version_and_audience(
    case_id: str, version: int, audience: str
) -> None:
    expected = uuid.uuid5(ALERT_NAMESPACE, f"{case_id}:{version}:{audience}")
    assert alert_event_id(case_id, version, audience) == str(expected)
