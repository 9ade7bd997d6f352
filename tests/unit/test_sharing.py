"""The one sharing rule (schemas.sharing) and what routing and the forwarder make of it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from consumers.forwarder.forwarder import agency_payload
from processors.alert_writer import AlertWriter
from processors.cases import Correlator
from processors.events import EventSummary
from processors.identity import IdentityResolver
from processors.pipeline import CorrelationPipeline
from processors.routing import route
from processors.rules import load_rules
from schemas import codec
from schemas.sharing import SEVERITIES, SHARING_LEVELS, may_see, visible_alert, withheld_text

T0 = 1_767_225_600_000
DAY = 86_400_000
AGENCIES = ("QLTT", "CA", "THUE", "SYT")

# What TLP 2.0 lets each viewer see of an item published by CA, in a case routed to CA and QLTT.
EXPECTED = {
    #                CA     QLTT   SYT (not a recipient)  BCD389  ALL
    "CLEAR": (True, True, True, True, True),
    "GREEN": (True, True, True, True, True),
    "AMBER": (True, True, False, True, True),
    "AMBER_STRICT": (True, False, False, True, True),
    "RED": (True, False, False, True, True),
    "PURPLE": (True, False, False, True, True),  # unknown: fail closed
}


@pytest.mark.parametrize("level", [*SHARING_LEVELS, "PURPLE"])
def test_may_see_follows_tlp_2_0(level: str) -> None:
    item = {"agency": "CA", "sharing": level}
    seen = tuple(may_see(viewer, item, ["CA", "QLTT"]) for viewer in ("CA", "QLTT", "SYT", "BCD389", "ALL"))
    assert seen == EXPECTED[level]


def _pipeline() -> CorrelationPipeline:
    maps: dict[str, dict[str, Any]] = {n: {} for n in ("root", "parent", "neighbours", "hot", "memo")}
    resolver = IdentityResolver(
        maps["root"], maps["parent"], maps["neighbours"], maps["hot"], maps["memo"], namespace="t"
    )
    return CorrelationPipeline(resolver, Correlator(load_rules()), {})


POLICE_TOKENS = ["nid:038190012345", "bank:970436:0011001234567", "web:halinh-sale.vn", "phone:+84912345678"]


def police_and_market_surveillance(police_level: str) -> list[EventSummary]:
    """QLTT finds counterfeit cosmetics (GREEN); the police's own violation names the seller's
    national ID, bank account and website at ``police_level``; one phone joins them."""
    return [
        EventSummary(
            event_id="00000000-0000-4000-8000-000000000001",
            event_type="violation",
            agency="QLTT",
            occurred_at=T0,
            recorded_at=T0,
            sharing="GREEN",
            commune_code="38001",
            seller_name="Hà Linh Cosmetics",
            tokens=["phone:+84912345678", "shop:shopee:halinh.cosmetics"],
            categories=["COUNTERFEIT"],
            product_categories=["COSMETICS"],
            summary="Violation [COUNTERFEIT] on COSMETICS: fake serum",
        ),
        EventSummary(
            event_id="00000000-0000-4000-8000-000000000002",
            event_type="violation",
            agency="CA",
            occurred_at=T0 + DAY,
            recorded_at=T0 + DAY,
            sharing=police_level,
            commune_code="38123",
            seller_name="Nguyễn Thị Hà Linh",
            tokens=POLICE_TOKENS,
            categories=["COUNTERFEIT"],
            product_categories=["COSMETICS"],
            summary="Violation [COUNTERFEIT]: police file 77/CSKT, accomplice network",
        ),
    ]


def routed_on_the_wire(events: list[EventSummary]) -> dict[str, dict[str, Any]]:
    """The last version's copies as consumers decode them from the topics, by topic."""
    pipeline = _pipeline()
    snapshots = [snap for e in events for snap in pipeline.event(e).alerts]
    writer = AlertWriter()
    copies = route(snapshots[-1], "38")
    encoded = writer.encode_copies([c.record for c in copies])
    return {
        c.topic: codec.decode_message(value, headers).record
        for c, (value, headers) in zip(copies, encoded, strict=True)
    }


def test_amber_strict_police_evidence_is_not_routed_to_other_agencies() -> None:
    """Issue 16: alerts.qltt.v1 and alerts.syt.v1 carried the police's AMBER+STRICT item."""
    topics = routed_on_the_wire(police_and_market_surveillance("AMBER_STRICT"))
    assert {"alerts.qltt.v1", "alerts.syt.v1", "alerts.ca.v1", "alerts.all.v1"} <= set(topics)
    for topic in ("alerts.qltt.v1", "alerts.syt.v1"):
        text = repr(topics[topic])
        assert [e["agency"] for e in topics[topic]["evidence"]] == ["QLTT"], topic
        assert "77/CSKT" not in text and "Nguyễn Thị Hà Linh" not in text and "38123" not in text
        for token in POLICE_TOKENS[:3]:
            assert token not in text, (topic, token)
        assert topics[topic]["withheld_count"] == 1 and topics[topic]["withheld"] == []
        assert withheld_text(topics[topic]["withheld_count"]) == "1 item withheld"
        assert "phone:+84912345678" in topics[topic]["seller_tokens"]  # QLTT brought it too
    assert [e["agency"] for e in topics["alerts.ca.v1"]["evidence"]] == ["QLTT", "CA"]
    assert set(POLICE_TOKENS) <= set(topics["alerts.all.v1"]["seller_tokens"])


def test_visible_alert_is_idempotent_and_fails_closed_on_unattributed_identifiers() -> None:
    full = routed_on_the_wire(police_and_market_surveillance("RED"))["alerts.all.v1"]
    once = visible_alert(full, "QLTT")
    assert visible_alert(once, "QLTT") == once
    assert once["withheld_count"] == 1 and once["seller_name"] == "Hà Linh Cosmetics"
    # a v1 record does not say which item brought which identifier: none reach an agency
    v1_like = {
        **full,
        "evidence": [{**e, "seller_tokens": [], "seller_name": None} for e in full["evidence"]],
    }
    assert visible_alert(v1_like, "QLTT")["seller_tokens"] == []
    assert visible_alert(v1_like, "BCD389")["seller_tokens"] == full["seller_tokens"]


def test_the_forwarder_filters_an_alert_again_before_it_leaves_the_bus() -> None:
    """A full copy that reached an agency topic by mistake still delivers only what QLTT may see."""
    pipeline = _pipeline()
    events = police_and_market_surveillance("RED")
    snapshot = [s for e in events for s in pipeline.event(e).alerts][-1]
    full = route(snapshot, "38")[0]
    assert full.audience == "ALL"
    value = AlertWriter().encode(full.record)
    payload = agency_payload(codec.decode_message(value), "QLTT")
    text = repr(payload)
    assert "77/CSKT" not in text and not any(t in text for t in POLICE_TOKENS[:3])
    assert payload["data"]["withheld_count"] == 1 and payload["data"]["audience"] == "QLTT"


_ITEMS = hs.lists(
    hs.tuples(hs.sampled_from(AGENCIES), hs.sampled_from([*SHARING_LEVELS, "PURPLE"]), hs.integers(0, 400)),
    min_size=1,
    max_size=7,
)


@given(_ITEMS, hs.sets(hs.sampled_from(AGENCIES)), hs.sets(hs.sampled_from(AGENCIES), max_size=2))
def test_recipients_and_times_come_only_from_what_the_viewer_may_see(
    items: list[tuple[str, str, int]], recipients: set[str], static: set[str]
) -> None:
    """Issue 16: an agency named only by withheld evidence, or a time only a withheld item
    holds (the case's opening, its last change, a rule's firing), never reaches a viewer."""
    evidence = [
        {
            "event_id": f"e{i}",
            "agency": agency,
            "sharing": level,
            "occurred_at": T0 + day * DAY + i,
            "seller_tokens": [],
            "seller_name": None,
            "commune_code": None,
        }
        for i, (agency, level, day) in enumerate(items)
    ]
    times = [e["occurred_at"] for e in evidence]
    routed = sorted({"BCD389", *recipients, *static})
    alert = {
        "header": {"recorded_at": T0 + 500 * DAY, "occurred_at": max(times), "sharing": "RED"},
        "recipients": routed,
        "evidence": evidence,
        "rules_fired": [
            {
                "rule_id": f"r{i}",
                "severity": "LOW",
                "fired_at": e["occurred_at"],
                "evidence_ids": [f"{e['agency']}/e{i}"],
            }
            for i, e in enumerate(evidence)
        ],
        "opened_at": min(times),
        "updated_at": max(times),
        "withheld": [],
        "withheld_count": 0,
    }
    for viewer in (*AGENCIES, "BCD389"):
        seen = visible_alert(alert, viewer)
        assert visible_alert(seen, viewer) == seen
        if viewer == "BCD389":
            assert seen["recipients"] == routed and seen["opened_at"] == min(times)
            continue
        kept = [e for e in evidence if may_see(viewer, e, routed)]
        kept_times = {e["occurred_at"] for e in kept} or {T0 + 500 * DAY}
        withheld_only = {e["agency"] for e in evidence} - {e["agency"] for e in kept} - {viewer}
        assert not withheld_only & set(seen["recipients"]), (viewer, seen["recipients"])
        assert set(routed) - withheld_only == set(seen["recipients"])  # the rest stay named
        shown = {seen["opened_at"], seen["updated_at"], seen["header"]["occurred_at"]}
        shown |= {h["fired_at"] for h in seen["rules_fired"]}
        assert shown <= kept_times, (viewer, shown - kept_times)


def test_a_rule_fired_on_red_police_evidence_is_not_shown_to_other_agencies() -> None:
    """Issue 16: a copy listed every rule of the case and its severity, also a rule that fired on
    evidence withheld from the recipient, so its title and severity told what the police hold."""
    topics = routed_on_the_wire(police_and_market_surveillance("RED"))
    full = topics["alerts.all.v1"]
    fired = {h["rule_id"]: h for h in full["rules_fired"]}
    police = "CA/00000000-0000-4000-8000-000000000002"
    on_police = {r for r, h in fired.items() if police in h["evidence_ids"]}
    assert on_police and set(fired) - on_police  # a rule on both agencies' items, one on QLTT's alone
    for topic in ("alerts.qltt.v1", "alerts.syt.v1"):
        copy = topics[topic]
        assert {h["rule_id"] for h in copy["rules_fired"]} == set(fired) - on_police, topic
        text = repr(copy)
        assert not any(fired[r]["title"] in text for r in on_police), topic
        assert copy["severity"] == max(
            (fired[r]["severity"] for r in set(fired) - on_police), key=SEVERITIES.index
        )
    assert {h["rule_id"] for h in topics["alerts.ca.v1"]["rules_fired"]} == set(fired)
    assert topics["alerts.ca.v1"]["severity"] == full["severity"]


def test_a_rule_hit_without_its_evidence_ids_is_shown_only_when_nothing_is_withheld() -> None:
    """A hit of a record written before v3 does not say what it fired on: fail closed."""
    full = routed_on_the_wire(police_and_market_surveillance("GREEN"))["alerts.all.v1"]
    legacy = {**full, "rules_fired": [{**h, "evidence_ids": []} for h in full["rules_fired"]]}
    shown = visible_alert(legacy, "QLTT")
    assert [h["rule_id"] for h in shown["rules_fired"]] == [h["rule_id"] for h in full["rules_fired"]]
    assert shown["severity"] == full["severity"]
    red = routed_on_the_wire(police_and_market_surveillance("RED"))["alerts.all.v1"]
    red_legacy = {**red, "rules_fired": [{**h, "evidence_ids": []} for h in red["rules_fired"]]}
    seen = visible_alert(red_legacy, "QLTT")
    assert seen["rules_fired"] == [] and seen["severity"] == "LOW"


_RULES = hs.lists(
    hs.tuples(hs.sets(hs.integers(0, 6), min_size=1, max_size=4), hs.sampled_from(SEVERITIES)),
    min_size=1,
    max_size=5,
)


@given(_ITEMS, _RULES, hs.sets(hs.sampled_from(AGENCIES)))
def test_rules_and_severity_come_only_from_evidence_the_viewer_may_see(
    items: list[tuple[str, str, int]], rules: list[tuple[set[int], str]], recipients: set[str]
) -> None:
    """Evidence at every level from every agency, rules fired on any of it: each viewer is shown
    exactly the rules whose evidence it may all see, rated by them alone, and no other rule's id
    or title appears anywhere in its copy."""
    evidence = [
        {
            "event_id": f"00000000-0000-4000-8000-{i:012d}",
            "agency": agency,
            "sharing": level,
            "occurred_at": T0 + day * DAY + i,
            "summary": f"item {i}",
            "seller_tokens": [],
            "seller_name": None,
            "commune_code": None,
        }
        for i, (agency, level, day) in enumerate(items)
    ]
    hits = [
        {
            "rule_id": f"rule-{n}",
            "title": f"Rule number {n}",
            "severity": severity,
            "fired_at": max(evidence[i % len(evidence)]["occurred_at"] for i in grounds),
            "evidence_ids": sorted(
                {
                    f"{evidence[i % len(evidence)]['agency']}/{evidence[i % len(evidence)]['event_id']}"
                    for i in grounds
                }
            ),
        }
        for n, (grounds, severity) in enumerate(rules)
    ]
    routed = sorted({"BCD389", *recipients})
    times = [e["occurred_at"] for e in evidence]
    alert = {
        "header": {"recorded_at": T0 + 500 * DAY, "occurred_at": max(times), "sharing": "RED"},
        "severity": max((h["severity"] for h in hits), key=SEVERITIES.index),
        "recipients": routed,
        "evidence": evidence,
        "rules_fired": hits,
        "opened_at": min(times),
        "updated_at": max(times),
        "withheld": [],
        "withheld_count": 0,
    }
    for viewer in (*AGENCIES, "BCD389"):
        seen = visible_alert(alert, viewer)
        assert visible_alert(seen, viewer) == seen
        visible = {f"{e['agency']}/{e['event_id']}" for e in evidence if may_see(viewer, e, routed)}
        expected = [h for h in hits if set(h["evidence_ids"]) <= visible]
        assert [h["rule_id"] for h in seen["rules_fired"]] == [h["rule_id"] for h in expected]
        assert seen["severity"] == max((h["severity"] for h in expected), key=SEVERITIES.index, default="LOW")
        text = repr(seen)
        for h in hits:
            if h not in expected:
                assert f"'{h['rule_id']}'" not in text and h["title"] not in text, (viewer, h["rule_id"])
