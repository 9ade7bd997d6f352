"""Every default rule fires, and does not fire, at its window edges; bad rule files fail clearly."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from processors.events import EventSummary
from processors.rules import DAY_MS, RulesError, load_rules, parse_rules

RULES = load_rules()
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
_ids = itertools.count()


def ev(event_type: str, agency: str, day: float, **kw: Any) -> EventSummary:
    return EventSummary(
        event_id=f"00000000-0000-4000-8000-{next(_ids):012d}",
        event_type=event_type,
        agency=agency,
        occurred_at=T0 + int(day * DAY_MS),
        recorded_at=T0 + int(day * DAY_MS) + 1000,
        **kw,
    )


def fires(rule_id: str, events: list[EventSummary], closed_at: int | None = None) -> bool:
    rule = RULES.by_id(rule_id)
    return rule.evaluate(events, events[-1], closed_at) is not None


def test_default_rule_ids() -> None:
    assert [r.id for r in RULES.rules] == [
        "counterfeit-tax-180d",
        "multi-agency-violations-90d",
        "payment-block-request",
        "repeat-offender",
        "health-products-violation",
    ]


@pytest.mark.parametrize(("gap", "expected"), [(0, True), (180, True), (180.001, False), (400, False)])
def test_counterfeit_and_tax_within_180_days(gap: float, expected: bool) -> None:
    v = ev("violation", "QLTT", 0, categories=["COUNTERFEIT"])
    t = ev("tax-anomaly", "THUE", gap)
    assert fires("counterfeit-tax-180d", [v, t]) is expected
    # order of arrival does not matter: the tax anomaly first, the violation as trigger
    assert fires("counterfeit-tax-180d", [t, v]) is expected


def test_counterfeit_rule_needs_the_category() -> None:
    v = ev("violation", "QLTT", 0, categories=["LABELLING"])
    t = ev("tax-anomaly", "THUE", 10)
    assert not fires("counterfeit-tax-180d", [v, t])
    assert fires("counterfeit-tax-180d", [ev("violation", "CA", 0, categories=["IP_INFRINGEMENT"]), t])


@pytest.mark.parametrize(("gap", "expected"), [(1, True), (90, True), (90.001, False)])
def test_violations_from_two_agencies_within_90_days(gap: float, expected: bool) -> None:
    events = [ev("violation", "QLTT", 0, categories=["LABELLING"]), ev("violation", "CA", gap)]
    assert fires("multi-agency-violations-90d", events) is expected


def test_two_violations_from_one_agency_are_not_multi_agency() -> None:
    events = [ev("violation", "QLTT", 0), ev("violation", "QLTT", 5)]
    assert not fires("multi-agency-violations-90d", events)
    # a third agency's violation inside the window of the second one still fires
    later = [ev("violation", "QLTT", 0), ev("violation", "QLTT", 100), ev("violation", "CA", 150)]
    assert fires("multi-agency-violations-90d", later)


def test_payment_block_request_fires_on_block_only() -> None:
    assert fires("payment-block-request", [ev("payment-block-request", "CA", 0, action="BLOCK")])
    assert not fires("payment-block-request", [ev("payment-block-request", "CA", 0, action="LIFT")])
    assert RULES.by_id("payment-block-request").severity == "CRITICAL"


def test_repeat_offender_needs_a_violation_after_a_closed_case() -> None:
    before = ev("violation", "QLTT", 0)
    closed_at = T0 + 10 * DAY_MS
    after = ev("violation", "QLTT", 20)
    assert not fires("repeat-offender", [before, after], closed_at=None)
    assert fires("repeat-offender", [before, after], closed_at=closed_at)
    assert not fires("repeat-offender", [before], closed_at=closed_at)
    at_close = ev("violation", "QLTT", 10)
    assert not fires("repeat-offender", [at_close], closed_at=closed_at)


@pytest.mark.parametrize(
    ("products", "expected"),
    [
        (["FOOD"], True),
        (["MEDICINE"], True),
        (["COSMETICS", "FASHION"], True),
        (["ELECTRONICS"], False),
        ([], False),
    ],
)
def test_health_products_violation_notifies_syt(products: list[str], expected: bool) -> None:
    v = ev("violation", "QLTT", 0, product_categories=products)
    assert fires("health-products-violation", [v]) is expected
    if expected:
        assert RULES.by_id("health-products-violation").recipients_for([v]) == {"SYT", "BCD389", "QLTT"}


def test_complaint_is_not_a_violation() -> None:
    assert not fires("health-products-violation", [ev("complaint", "SCT", 0, product_categories=["FOOD"])])


def test_longest_window_is_the_pruning_horizon() -> None:
    assert RULES.longest_window_ms == 365 * DAY_MS


def _rule(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r-one",
        "title": "A rule",
        "severity": "HIGH",
        "window_days": 30,
        "match": [{"event_types": ["violation"]}],
        "recipients": ["QLTT"],
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_rule(severity="URGENT"), r"rule 'r-one': severity: .*unknown severity 'URGENT'"),
        (
            _rule(match=[{"event_types": ["violations"]}]),
            r"rule 'r-one': match.0.event_types: .*unknown event type",
        ),
        (
            _rule(match=[{"event_types": ["violation"], "categories": ["FAKE"]}]),
            r"unknown ViolationCategory \['FAKE'\]",
        ),
        (_rule(window_days=-1), r"rule 'r-one': window_days: Input should be greater than or equal to 0"),
        (_rule(recipients=[]), r"rule 'r-one': \(rule\): .*notifies nobody"),
        (_rule(recipients=["qltt"]), r"rule 'r-one': recipients: .*agency codes"),
        (_rule(colour="red"), r"rule 'r-one': colour: Extra inputs are not permitted"),
        (_rule(id="Bad Id"), r"rule 'Bad Id': id: String should match pattern"),
        (
            _rule(match=[{"event_types": ["inspection"], "outcomes": ["FOUND"]}]),
            r"rule 'r-one': match.0.outcomes: .*unknown InspectionOutcome \['FOUND'\]",
        ),
        (
            _rule(match=[{"event_types": ["violation"], "outcomes": ["VIOLATION_FOUND"]}]),
            r"rule 'r-one': match.0: .*outcomes filters \['inspection'\] events, but this clause",
        ),
        (
            _rule(match=[{"event_types": ["tax-anomaly"], "categories": ["COUNTERFEIT"]}]),
            r"rule 'r-one': match.0: .*categories filters \['complaint', 'violation'\] events",
        ),
        (
            _rule(match=[{"event_types": ["violation"], "platforms": ["ETSY"]}]),
            r"rule 'r-one': match.0.platforms: .*unknown Platform \['ETSY'\]",
        ),
        (
            _rule(match=[{"event_types": ["violation"], "legal_documents": ["  "]}]),
            r"rule 'r-one': match.0.legal_documents: .*a legal document must be named",
        ),
    ],
)
def test_malformed_rule_names_the_rule_and_the_problem(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rules({"rules": [rule]}, "test.yaml")


def test_duplicate_ids_and_bad_yaml_fail(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="duplicate rule id 'r-one'"):
        parse_rules({"rules": [_rule(), _rule()]})
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(path)
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("VIOLATION_FOUND", True), ("REFERRED", False), ("NO_VIOLATION", False), ("ONGOING", False)],
)
def test_an_inspection_that_found_a_violation_counts_as_one(outcome: str, expected: bool) -> None:
    v = ev("violation", "CA", 0, categories=["LABELLING"])
    i = ev("inspection", "QLTT", 30, outcome=outcome)
    assert fires("multi-agency-violations-90d", [v, i]) is expected
    assert fires("multi-agency-violations-90d", [i, v]) is expected
    food = ev("inspection", "QLTT", 1, outcome=outcome, product_categories=["FOOD"])
    assert fires("health-products-violation", [food]) is expected
    closed = T0 + 2 * DAY_MS
    later = ev("inspection", "SCT", 3, outcome=outcome)
    assert fires("repeat-offender", [later], closed_at=closed) is expected


def test_an_inspection_finding_is_not_a_counterfeit_violation() -> None:
    i = ev("inspection", "QLTT", 0, outcome="VIOLATION_FOUND")
    assert not fires("counterfeit-tax-180d", [i, ev("tax-anomaly", "THUE", 10)])


def _one_clause(**clause: Any) -> Any:
    return parse_rules({"rules": [_rule(match=[clause])]}).rules[0]


def test_filters_apply_to_the_event_types_that_carry_the_field() -> None:
    rule = _one_clause(event_types=["violation", "inspection"], outcomes=["VIOLATION_FOUND", "REFERRED"])
    assert rule.could_fire_with(ev("violation", "QLTT", 0))  # a violation has no outcome to filter
    assert rule.could_fire_with(ev("inspection", "QLTT", 0, outcome="REFERRED"))
    assert not rule.could_fire_with(ev("inspection", "QLTT", 0, outcome="NO_VIOLATION"))
    assert not rule.could_fire_with(ev("complaint", "QLTT", 0))


def test_platform_and_legal_document_filters() -> None:
    rule = _one_clause(
        event_types=["violation", "inspection"],
        platforms=["SHOPEE", "TIKTOK_SHOP"],
        legal_documents=["Nghị định 98/2020/NĐ-CP"],
    )
    basis = "  nghị định 98/2020/nđ-cp "  # as an officer may type it: case and spacing do not matter
    assert rule.could_fire_with(ev("violation", "QLTT", 0, platforms=["SHOPEE"], legal_document=basis))
    decomposed = "Nghi\u0323 \u0111i\u0323nh 98/2020/N\u0110-CP"  # NFD input compares equal to NFC
    assert rule.could_fire_with(ev("violation", "QLTT", 0, platforms=["SHOPEE"], legal_document=decomposed))
    assert not rule.could_fire_with(ev("violation", "QLTT", 0, platforms=["LAZADA"], legal_document=basis))
    assert not rule.could_fire_with(ev("violation", "QLTT", 0, platforms=["SHOPEE"], legal_document=None))
    assert not rule.could_fire_with(
        ev("inspection", "QLTT", 0, platforms=["TIKTOK_SHOP"], legal_document="Luật Thương mại 2005")
    )
