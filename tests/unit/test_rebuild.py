"""Rebuild core: a rule change re-correlated into a new namespace keeps the ids of continuing cases."""

from __future__ import annotations

from typing import Any

from processors.cases import CaseSnapshot, Correlator, case_update_message
from processors.events import EventSummary
from processors.identity import IdentityResolver
from processors.pipeline import CorrelationPipeline
from processors.rebuild import AnnouncedCase, Rebuild
from processors.routing import AUDIENCE_ALL, alert_record
from processors.rules import DAY_MS, RuleSet, load_rules, parse_rules

T0 = 1_767_225_600_000
NEW_RULES = load_rules()


def old_rules() -> RuleSet:
    """The rules before the change: multi-agency violations within 30 days only, no health rule."""
    raw: dict[str, Any] = NEW_RULES.model_dump()
    rules = [r for r in raw["rules"] if r["id"] != "health-products-violation"]
    for r in rules:
        if r["id"] == "multi-agency-violations-90d":
            r["window_days"] = 30
    return parse_rules({"version": 1, "rules": rules})


def ev(n: int, event_type: str, agency: str, day: int, tokens: list[str], **kw: Any) -> EventSummary:
    return EventSummary(
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        event_type=event_type,
        agency=agency,
        occurred_at=T0 + day * DAY_MS,
        recorded_at=T0 + day * DAY_MS + 1000,
        tokens=tokens,
        summary=f"{event_type} {n}",
        **kw,
    )


EVENTS = [
    # seller A: a block (a case under both rule sets) and two violations 60 days apart
    ev(1, "payment-block-request", "CA", 0, ["tax:0100000001"], action="BLOCK"),
    ev(2, "violation", "QLTT", 10, ["tax:0100000001"], categories=["LABELLING"]),
    ev(3, "violation", "SCT", 70, ["tax:0100000001"], categories=["LABELLING"]),
    # seller B: two violations 60 days apart: a case only with the 90-day window
    ev(4, "violation", "QLTT", 0, ["phone:+84900000002"], categories=["LABELLING"]),
    ev(5, "violation", "SCT", 60, ["phone:+84900000002"], categories=["LABELLING"]),
    # seller C: a block, then nothing: unchanged
    ev(6, "payment-block-request", "CA", 5, ["shop:shopee:c3"], action="BLOCK"),
    # seller D: a food violation: a case only with the health rule
    ev(7, "violation", "QLTT", 1, ["web:d4.vn"], categories=["LABELLING"], product_categories=["FOOD"]),
]


def announced_by(pipeline: CorrelationPipeline, events: list[EventSummary]) -> dict[str, CaseSnapshot]:
    latest: dict[str, CaseSnapshot] = {}
    for e in events:
        for a in pipeline.event(e).alerts:
            latest[a.case_id] = a
    return latest


def _announced(latest: dict[str, CaseSnapshot]) -> dict[str, AnnouncedCase]:
    return {cid: AnnouncedCase.from_alert(alert_record(s, AUDIENCE_ALL, "38")) for cid, s in latest.items()}


def test_a_rule_change_rebuilds_into_the_same_case_ids() -> None:
    running = CorrelationPipeline(IdentityResolver.in_memory(namespace="old"), Correlator(old_rules()))
    before = announced_by(running, EVENTS)
    case_a = next(c for c in before.values() if any(e.event_id.endswith("1") for e in c.evidence))
    close = {"header": {"event_id": "11111111-1111-4111-8111-000000000001", "occurred_at": T0 + 80 * DAY_MS,
                        "agency": "QLTT"}, "case_id": case_a.case_id, "action": "CLOSE"}  # fmt: skip
    for a in running.case_update(case_update_message(close)).alerts:
        before[a.case_id] = a
    announced = _announced(before)
    assert {c.status for c in announced.values()} == {"OPEN", "CLOSED"} and len(announced) == 2

    rebuild = Rebuild(NEW_RULES, namespace="new")
    for e in EVENTS:
        rebuild.event(e)
    rebuild.case_update(case_update_message(close))
    result = rebuild.finish(announced)
    report = result.report
    assert report.to_dict() | {} == {
        "events": 7,
        "case_updates": 1,
        "rejected": 0,
        "cases_before": 2,
        "cases_after": 4,
        "unchanged": 1,  # seller C
        "opened": 2,  # sellers B (90-day window) and D (health rule)
        "closed": 0,
        "merged": 0,
        "split": 0,
        "changed": 1,  # seller A: the 90-day window now reaches its second violation
        "evidence_added": 3,
        "evidence_removed": 0,
        "updates_dropped": 0,
    }
    published = {s.case_id: s for s in result.publish}
    # seller A keeps its id, continues its versions, and the officer's close still holds
    a = published[case_a.case_id]
    assert (a.version, a.status) == (before[case_a.case_id].version + 1, "CLOSED")
    assert "multi-agency-violations-90d" in {h["rule_id"] for h in a.rules}
    assert len(published) == 3 and all(s.version == 1 for cid, s in published.items() if cid not in before)
    assert "\n".join(report.lines()).count("opened") == 3  # the summary line and one line per case

    # the new namespace goes on from the rebuilt tables: the next version, not a second case
    tables = result.tables
    resolver = IdentityResolver(
        *(tables[n] for n in ("identity-token-root", "identity-parent", "identity-neighbours",
                              "identity-hot-tokens", "identity-memo")), namespace="new",
    )  # fmt: skip
    after = CorrelationPipeline(resolver, Correlator(NEW_RULES), tables["cluster-state"])
    (next_version,) = after.event(
        ev(8, "violation", "CA", 90, ["tax:0100000001"], categories=["LABELLING"])
    ).alerts  # after the officer's close: a repeat offence reopens it
    assert (next_version.case_id, next_version.version, next_version.status) == (
        case_a.case_id,
        a.version + 1,
        "OPEN",
    )
    unchanged = next(c for c in before.values() if c.case_id not in published)
    (c_next,) = after.event(ev(9, "inspection", "QLTT", 6, ["shop:shopee:c3"])).alerts
    assert (c_next.case_id, c_next.version) == (unchanged.case_id, unchanged.version + 1)


def test_cases_merged_by_a_warninglist_change_give_one_merged_version() -> None:
    """Two announced cases now one (a new rule links them): one keeps its id, the other is MERGED."""
    events = [
        ev(1, "payment-block-request", "CA", 0, ["tax:0100000011"], action="BLOCK"),
        ev(2, "payment-block-request", "CA", 1, ["phone:+84900000012"], action="BLOCK"),
        ev(3, "complaint", "SCT", 2, ["tax:0100000011", "phone:+84900000012"]),
    ]
    running = CorrelationPipeline(IdentityResolver.in_memory(namespace="old"), Correlator(NEW_RULES))
    before = announced_by(running, events[:2])  # the link arrived only for the rebuild (say, unblocked)
    rebuild = Rebuild(NEW_RULES, namespace="new")
    for e in events:
        rebuild.event(e)
    result = rebuild.finish(_announced(before))
    assert (result.report.count("merged"), result.report.count("changed"), result.report.cases_after) == (
        1,
        1,
        1,
    )
    merged = [s for s in result.publish if s.status == "MERGED"]
    (alive,) = [s for s in result.publish if s.status == "OPEN"]
    assert len(merged) == 1 and merged[0].merged_into == alive.case_id
    assert {alive.case_id, merged[0].case_id} == set(before)
    assert merged[0].version == before[merged[0].case_id].version + 1
