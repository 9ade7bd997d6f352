"""The traffic simulator: deterministic per seed, planted patterns with partly overlapping identifiers."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from producers.simulator import PLANTED_RULES, generate, write_truth
from schemas.models import BaseEvent, SellerRef, ViolationRecorded


def _seller(event: BaseEvent) -> SellerRef:
    seller = getattr(event, "seller", None)
    assert isinstance(seller, SellerRef), f"{type(event).__name__} has no seller"
    return seller


def _fingerprint(events: list[BaseEvent]) -> list[str]:
    return [e.model_dump_json() for e in events]


def test_same_seed_same_events_other_seed_other_events() -> None:
    a = generate(seed=7, sellers=300, events=800)
    b = generate(seed=7, sellers=300, events=800)
    c = generate(seed=8, sellers=300, events=800)
    assert _fingerprint(a.events) == _fingerprint(b.events)
    assert a.truth == b.truth
    assert {str(e.header.event_id) for e in a.events}.isdisjoint(str(e.header.event_id) for e in c.events)


def test_every_agency_publishes_and_events_are_in_time_order() -> None:
    scenario = generate(seed=1, sellers=500, events=2000)
    assert len(scenario.events) == 2000
    agencies = Counter(e.header.agency for e in scenario.events)
    assert {"QLTT", "CA", "THUE", "SCT", "KHCN", "SYT", "HQ"} <= set(agencies)
    times = [e.header.occurred_at for e in scenario.events]
    assert times == sorted(times)
    assert any("ễ" in (_seller(e).name or "") or "Đ" in (_seller(e).name or "") for e in scenario.events)


def test_planted_counterfeit_tax_pattern_links_only_through_partial_overlaps() -> None:
    scenario = generate(seed=3, sellers=400, events=1500)
    by_id = {str(e.header.event_id): e for e in scenario.events}
    cases = [c for c in scenario.truth["expected_cases"] if c["pattern"] == "counterfeit-tax"]
    assert cases
    for case in cases:
        violation, inspection, tax = (by_id[i] for i in case["event_ids"])
        assert isinstance(violation, ViolationRecorded) and "COUNTERFEIT" in violation.categories
        v, i, t = (set(_seller(e).tokens()) for e in (violation, inspection, tax))
        assert v & i and i & t, "each event shares an identifier with the next"
        assert not v & t, "the violation and the tax anomaly share nothing directly"
        assert violation.header.occurred_at < inspection.header.occurred_at < tax.header.occurred_at
        assert (tax.header.occurred_at - violation.header.occurred_at).days <= 180
        assert case["rule_ids"] == ["counterfeit-tax-180d"]
        assert case["recipients"] == ["BCD389", "CA", "QLTT", "THUE"]


def test_every_pattern_is_planted_and_noise_never_shares_planted_identifiers() -> None:
    scenario = generate(seed=5, sellers=600, events=2400)
    patterns = Counter(c["pattern"] for c in scenario.truth["expected_cases"])
    assert set(patterns) == set(PLANTED_RULES)
    planted = {i for c in scenario.truth["expected_cases"] for i in c["event_ids"]}
    decoys = set(scenario.truth["decoy_tokens"])
    planted_tokens = {
        t for e in scenario.events if str(e.header.event_id) in planted for t in _seller(e).tokens()
    }
    other_tokens = {
        t for e in scenario.events if str(e.header.event_id) not in planted for t in _seller(e).tokens()
    }
    assert not (planted_tokens & other_tokens) - decoys


def test_noise_sellers_have_at_most_one_violation_and_never_counterfeit() -> None:
    scenario = generate(seed=11, sellers=200, events=3000)
    by_id = {str(e.header.event_id): e for e in scenario.events}
    for seller_id in scenario.truth["no_case_sellers"]:
        events = [by_id[i] for i in scenario.truth["sellers"][seller_id]["event_ids"]]
        violations = [e for e in events if isinstance(e, ViolationRecorded)]
        assert len(violations) <= 1
        assert all("COUNTERFEIT" not in v.categories for v in violations)


def test_decoys_share_warninglisted_identifiers_across_agencies() -> None:
    scenario = generate(seed=2, sellers=1000, events=3000)
    decoy_ids = [s for s, v in scenario.truth["sellers"].items() if v["role"] == "decoy"]
    assert len(decoy_ids) >= 20
    by_id = {str(e.header.event_id): e for e in scenario.events}
    agencies = {by_id[scenario.truth["sellers"][s]["event_ids"][0]].header.agency for s in decoy_ids}
    assert agencies == {"QLTT", "SCT"}


def test_truth_file_is_json_with_vietnamese_text(tmp_path: Path) -> None:
    scenario = generate(seed=1, sellers=50, events=200)
    path = tmp_path / "truth.json"
    write_truth(scenario, path)
    text = path.read_text(encoding="utf-8")
    assert '"expected_cases"' in text and scenario.truth["expected_cases"][0]["event_ids"][0] in text


def test_sdk_encoding_is_the_codecs_encoding(tmp_path: Path) -> None:
    """The SDK's fast path (model_dump straight to fastavro) writes exactly codec.encode_event's bytes."""
    from agencybus.settings import Settings
    from producers.publisher import Publisher
    from schemas import codec

    scenario = generate(seed=4, sellers=100, events=400)
    settings = Settings(data_dir=tmp_path, bootstrap_servers="127.0.0.1:9")
    publishers: dict[str, Publisher] = {}
    checked = set()
    for event in scenario.events:
        if event.EVENT_TYPE.key in ("payment-block-request", "takedown-request"):
            continue  # signed: the signature makes the bytes differ on purpose
        agency = event.header.agency
        publisher = publishers.setdefault(agency, Publisher(agency, settings, start_flusher=False))
        ours = publisher.prepare(event)
        theirs = codec.encode_event(event)
        assert (ours.value, ours.headers) == (theirs.value, theirs.headers)
        checked.add(event.EVENT_TYPE.key)
    for publisher in publishers.values():
        publisher.close()
    assert checked == {"inspection", "violation", "tax-anomaly", "complaint"}


def test_takedown_requests_rest_on_the_sellers_violation_and_some_are_long_overdue() -> None:
    from datetime import timedelta

    from schemas.models import TakedownRequested

    scenario = generate(seed=6, sellers=800, events=3000)
    by_id = {str(e.header.event_id): e for e in scenario.events}
    takedowns = [e for e in scenario.events if isinstance(e, TakedownRequested)]
    assert len(takedowns) >= 4
    end = datetime.fromisoformat(scenario.truth["start"]) + timedelta(days=60)
    old = [t for t in takedowns if t.deadline < end]
    assert old and len(old) < len(takedowns), "some long past their deadline, some sent in the last day"
    for takedown in takedowns:
        (violation,) = (by_id[i] for i in takedown.evidence_event_ids)
        assert isinstance(violation, ViolationRecorded) and violation.header.agency == "QLTT"
        assert {s.handle for s in violation.seller.shops} == {takedown.targets[0].shop_handle}
        assert takedown.platform == "SHOPEE" and takedown.deadline - takedown.header.recorded_at == timedelta(
            hours=24
        )
        (case,) = [
            c for c in scenario.truth["expected_cases"] if str(takedown.header.event_id) in c["event_ids"]
        ]
        assert case["pattern"] == "health" and str(violation.header.event_id) in case["event_ids"]
