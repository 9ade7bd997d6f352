"""Joint cases: stable ids, versions without alert storms, merges, closes, replays."""

from __future__ import annotations

import itertools
import random
from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.cases import (
    CaseSnapshot,
    Correlator,
    Send,
    case_id_for,
    case_update_message,
    cluster_id_for_case,
    correlation_messages,
)
from processors.events import EventSummary
from processors.identity import IdentityResolver
from processors.rules import DAY_MS, load_rules

RULES = load_rules()
T0 = 1_767_225_600_000
_ids = itertools.count()


def ev(event_type: str, agency: str, day: float, tokens: list[str], **kw: Any) -> EventSummary:
    n = next(_ids)
    return EventSummary(
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        event_type=event_type,
        agency=agency,
        occurred_at=T0 + int(day * DAY_MS),
        recorded_at=T0 + int(day * DAY_MS) + 5000,
        tokens=tokens,
        summary=f"{event_type} {n}",
        **kw,
    )


class Pipeline:
    """Identity (one writer) feeding the partitioned correlation stage, in plain Python.

    Messages for different clusters may be delivered in any interleaving (different
    partitions); messages for one cluster stay in order (one partition).
    """

    def __init__(self, seed: int = 0) -> None:
        self.identity = IdentityResolver.in_memory()
        self.correlator = Correlator(RULES)
        self.states: dict[str, dict[str, Any]] = {}
        self.queues: dict[str, deque[dict[str, Any]]] = {}
        self.alerts: list[CaseSnapshot] = []
        self.rnd = random.Random(seed)

    def _enqueue(self, sends: list[Send]) -> None:
        for s in sends:
            self.queues.setdefault(s.cluster_id, deque()).append(s.message)

    def publish(self, event: EventSummary) -> None:
        res = self.identity.resolve(event.event_id, event.tokens, event.occurred_at)
        self._enqueue(
            correlation_messages(res.cluster_id, res.absorbed, {**event.to_dict(), "tokens": res.tokens})
        )

    def close(self, case_id: str, day: float, event_id: str) -> None:
        record = {
            "header": {"event_id": event_id, "occurred_at": T0 + int(day * DAY_MS)},
            "case_id": case_id,
            "action": "CLOSE",
        }
        self._enqueue([case_update_message(record)])

    def drain(self) -> None:
        while any(self.queues.values()):
            key = self.rnd.choice(sorted(k for k, q in self.queues.items() if q))
            message = self.queues[key].popleft()
            state, out = self.correlator.handle(self.states.get(key), message)
            self.states[key] = state
            self.alerts.extend(out.alerts)
            self._enqueue(out.sends)

    def latest(self) -> dict[str, CaseSnapshot]:
        result: dict[str, CaseSnapshot] = {}
        for a in self.alerts:
            if a.case_id not in result or a.version >= result[a.case_id].version:
                result[a.case_id] = a
        return result


def test_case_ids_map_to_clusters_and_back() -> None:
    assert cluster_id_for_case(case_id_for("S-0123456789abcdef")) == "S-0123456789abcdef"


def test_rule_opens_one_case_and_new_evidence_adds_versions() -> None:
    p = Pipeline()
    p.publish(ev("violation", "QLTT", 0, ["tax:0101234567"], categories=["COUNTERFEIT"]))
    p.drain()
    assert p.alerts == []  # one violation alone fires nothing
    p.publish(ev("tax-anomaly", "THUE", 30, ["tax:0101234567"]))
    p.drain()
    assert len(p.alerts) == 1
    v1 = p.alerts[0]
    assert v1.version == 1 and v1.status == "OPEN" and v1.severity == "HIGH"
    assert [h["rule_id"] for h in v1.rules] == ["counterfeit-tax-180d"]
    assert v1.recipients == ["BCD389", "CA", "QLTT", "THUE"]
    assert len(v1.evidence) == 2 and v1.opened_at == T0 + 30 * DAY_MS
    p.publish(ev("inspection", "SCT", 40, ["tax:0101234567"]))
    p.drain()
    v2 = p.alerts[-1]
    assert (v2.case_id, v2.version, len(v2.evidence)) == (v1.case_id, 2, 3)
    assert len(p.alerts) == 2  # one version per new piece of evidence, no storm


def test_duplicate_event_republishes_the_same_version_and_changes_nothing() -> None:
    p = Pipeline()
    e = ev("payment-block-request", "CA", 0, ["bank:970436:0011001234567"], action="BLOCK")
    p.publish(e)
    p.drain()
    before = repr(p.states)
    p.publish(e)
    p.drain()
    assert repr(p.states) == before
    assert [a.version for a in p.alerts] == [1, 1] and p.alerts[0] == p.alerts[1]
    assert p.alerts[0].severity == "CRITICAL" and p.alerts[0].recipients == ["BCD389", "CA"]


def test_merge_of_two_clusters_merges_their_cases() -> None:
    p = Pipeline()
    p.publish(ev("violation", "QLTT", 0, ["tax:0101234567"], product_categories=["FOOD"]))
    p.publish(ev("violation", "CA", 1, ["phone:+84912345678"], product_categories=["COSMETICS"]))
    p.drain()
    cases = p.latest()
    assert len(cases) == 2
    p.publish(ev("complaint", "SCT", 2, ["tax:0101234567", "phone:+84912345678"]))
    p.drain()
    latest = p.latest()
    merged = [c for c in latest.values() if c.status == "MERGED"]
    alive = [c for c in latest.values() if c.status == "OPEN"]
    assert len(merged) == 1 and len(alive) == 1
    assert merged[0].merged_into == alive[0].case_id
    assert {e.agency for e in alive[0].evidence} == {"QLTT", "CA", "SCT"}
    assert "multi-agency-violations-90d" in {h["rule_id"] for h in alive[0].rules}
    assert alive[0].case_id == case_id_for(min(cases[c].cluster_id for c in cases))


def test_close_then_new_violation_reopens_as_repeat_offender() -> None:
    p = Pipeline()
    p.publish(ev("payment-block-request", "CA", 0, ["tax:0101234567"], action="BLOCK"))
    p.drain()
    case_id = p.alerts[-1].case_id
    p.close(case_id, 5, "11111111-1111-4111-8111-111111111111")
    p.drain()
    assert p.alerts[-1].status == "CLOSED" and p.alerts[-1].version == 2
    p.publish(ev("inspection", "QLTT", 6, ["tax:0101234567"]))
    p.drain()
    assert p.alerts[-1].version == 2  # closed case: plain evidence does not reopen it
    p.publish(ev("violation", "QLTT", 7, ["tax:0101234567"], categories=["LABELLING"]))
    p.drain()
    last = p.alerts[-1]
    assert (last.case_id, last.version, last.status) == (case_id, 3, "OPEN")
    assert "repeat-offender" in {h["rule_id"] for h in last.rules}
    assert "QLTT" in last.recipients


def _scenario() -> list[EventSummary]:
    """Three sellers; the third event of each pair of sellers links them later."""
    return [
        ev("violation", "QLTT", 0, ["tax:0100000001"], categories=["COUNTERFEIT"]),
        ev("tax-anomaly", "THUE", 10, ["tax:0100000001", "bank:970436:1"]),
        ev("violation", "CA", 20, ["phone:+84900000002"], product_categories=["MEDICINE"]),
        ev("violation", "SCT", 25, ["phone:+84900000002", "web:shop2.vn"]),
        ev("payment-block-request", "CA", 30, ["web:shop3.vn"], action="BLOCK"),
        ev("complaint", "SCT", 40, ["bank:970436:1", "web:shop2.vn"]),
        ev("inspection", "KHCN", 50, ["web:shop3.vn", "phone:+84900000002"]),
        ev("violation", "HQ", 60, ["tax:0100000001"], categories=["SMUGGLING"]),
    ]


def _final(p: Pipeline) -> set[tuple[str, int, str, tuple[str, ...]]]:
    return {
        (c.case_id, c.version, c.status, tuple(e.event_id for e in c.evidence)) for c in p.latest().values()
    }


def test_three_way_merge_converges_on_one_open_case() -> None:
    p = Pipeline()
    for e in _scenario():
        p.publish(e)
    p.drain()
    alive = [c for c in p.latest().values() if c.status == "OPEN"]
    assert len(alive) == 1
    assert len(alive[0].evidence) == 8
    assert all(c.merged_into == alive[0].case_id for c in p.latest().values() if c.status == "MERGED")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_partition_interleaving_does_not_change_the_final_cases(seed: int) -> None:
    reference = Pipeline(seed=1)
    events = _scenario()
    for e in events:
        reference.publish(e)
        reference.drain()
    p = Pipeline(seed=seed)
    for e in events:
        p.publish(e)
    p.drain()
    assert _final(p) == _final(reference)  # same cases, same latest versions, same evidence


def test_replaying_every_message_changes_no_final_case() -> None:
    p = Pipeline()
    events = _scenario()
    for e in events:
        p.publish(e)
    p.drain()
    before = _final(p)
    for e in events:  # at-least-once: the whole input again
        p.publish(e)
    p.drain()
    assert _final(p) == before


def test_replayed_absorb_re_sends_the_state_and_republishes_the_merged_version() -> None:
    """After a crash the absorb may be replayed with its alert lost: the MERGED version comes again."""
    correlator = Correlator(RULES)
    e = ev("payment-block-request", "CA", 0, ["tax:0100000007"], action="BLOCK")
    state, _ = correlator.handle(
        None, {"kind": "event", "cluster_id": "S-b", "absorbs": [], "event": e.to_dict()}
    )
    absorb = {"kind": "absorb", "cluster_id": "S-b", "into": "S-a"}
    state, first = correlator.handle(state, absorb)
    state, again = correlator.handle(state, absorb)
    assert [(a.status, a.version, a.merged_into) for a in first.alerts] == [("MERGED", 2, "JC-a")]
    assert again.alerts == first.alerts and again.duplicate
    assert [s.message for s in again.sends] == [s.message for s in first.sends]


def test_history_keeps_evidence_and_a_year_of_other_events() -> None:
    """Noise older than the longest window before the newest event is dropped; evidence never is."""
    p = Pipeline()
    block = ev("payment-block-request", "CA", 0, ["tax:0100000042"], action="BLOCK")
    p.publish(block)
    p.drain()
    case_id = p.alerts[-1].case_id
    p.close(case_id, 1, "22222222-2222-4222-8222-222222222222")
    for day in range(2, 800, 7):  # complaints of a closed case: not evidence
        p.publish(ev("complaint", "SCT", day, ["tax:0100000042"]))
    p.drain()
    (state,) = [s for s in p.states.values() if s["history"]]
    days = [(i["occurred_at"] - T0) / DAY_MS for i in state["history"] if "event_type" in i]
    assert days[0] == 0  # the evidence stays
    assert min(days[1:]) >= max(days) - 365  # the rest: one longest window
    assert any(i.get("kind") == "case-update" for i in state["history"])


def test_same_event_id_from_two_agencies_is_two_inputs() -> None:
    p = Pipeline()
    a = ev("violation", "QLTT", 0, ["tax:0100000043"], categories=["LABELLING"])
    b = EventSummary(**{**a.to_dict(), "agency": "SCT", "summary": "same id, other agency"})
    p.publish(a)
    p.publish(b)
    p.drain()
    (case,) = p.latest().values()
    assert [(e.agency, e.event_id) for e in case.evidence] == [("QLTT", a.event_id), ("SCT", a.event_id)]
    assert [h["rule_id"] for h in case.rules] == ["multi-agency-violations-90d"]


def test_state_of_the_previous_format_is_converted_on_first_touch() -> None:
    e1 = ev("payment-block-request", "CA", 0, ["tax:0100000044"], action="BLOCK")
    old = {
        "cluster_id": "S-old",
        "events": [e1.to_dict()],
        "seen": [e1.event_id],
        "case": {
            "case_id": "JC-old",
            "version": 3,
            "status": "OPEN",
            "merged_into": None,
            "opened_at": e1.occurred_at,
            "updated_at": e1.occurred_at,
            "rules": {},
            "evidence": [e1.to_dict()],
        },
        "closed_at": None,
        "merged_into": None,
        "absorbed": [],
        "pending": [],
        "buffer": [],
        "transfer": None,
    }
    e2 = ev("inspection", "QLTT", 1, ["tax:0100000044"])
    state, out = Correlator(RULES).handle(
        old, {"kind": "event", "cluster_id": "S-old", "absorbs": [], "event": e2.to_dict()}
    )
    (alert,) = out.alerts
    assert (alert.case_id, alert.version, alert.status) == ("JC-old", 4, "OPEN")
    assert [e.event_id for e in alert.evidence] == [e1.event_id, e2.event_id]
    assert "events" not in state and len(state["history"]) == 2
