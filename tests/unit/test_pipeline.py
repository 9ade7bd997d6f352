"""The single writer's core: identity + correlation per input, over dicts or write-back views."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.cases import Correlator, case_update_message
from processors.events import EventSummary
from processors.identity import IdentityResolver
from processors.pipeline import CorrelationPipeline
from processors.rules import DAY_MS, load_rules
from processors.writeback import WriteBack

RULES = load_rules()
T0 = 1_767_225_600_000
AGENCIES = ["QLTT", "CA", "THUE", "SCT", "YTE"]
TYPES = ["violation", "tax-anomaly", "complaint", "inspection"]


def story(seed: int, n: int = 80) -> list[EventSummary]:
    """Events over a few sellers whose identifiers only partly overlap, so clusters merge."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        seller = rnd.randrange(6)
        tokens = rnd.sample([f"tax:{seller:010d}", f"phone:+8490{seller:07d}", f"shop:s{seller}"], k=1)
        if rnd.random() < 0.2:  # a link between two spellings of one seller
            tokens.append(f"shop:s{seller}")
        out.append(
            EventSummary(
                event_id=f"00000000-0000-4000-8000-{seed:04d}{i:08d}",
                event_type=rnd.choice(TYPES),
                agency=rnd.choice(AGENCIES),
                occurred_at=T0 + int(rnd.uniform(0, 200) * DAY_MS),
                recorded_at=T0 + int(rnd.uniform(0, 200) * DAY_MS),
                tokens=tokens,
                categories=[rnd.choice(["COUNTERFEIT", "LABELLING"])],
                product_categories=[rnd.choice(["FOOD", "FASHION"])],
                summary=f"event {i}",
            )
        )
    return out


def _tables() -> dict[str, dict[str, Any]]:
    return {name: {} for name in ("root", "parent", "neighbours", "hot", "memo", "states")}


def _pipeline(maps: dict[str, Any]) -> CorrelationPipeline:
    resolver = IdentityResolver(
        maps["root"], maps["parent"], maps["neighbours"], maps["hot"], maps["memo"], namespace="t"
    )
    return CorrelationPipeline(resolver, Correlator(RULES), maps["states"])


def test_linked_spellings_of_one_seller_end_in_one_case_with_consecutive_versions() -> None:
    pipeline = _pipeline(_tables())
    tokens = [["tax:0101234567"], ["phone:+84901234567"], ["tax:0101234567", "phone:+84901234567"]]
    kinds = [("violation", "QLTT", ["COUNTERFEIT"]), ("tax-anomaly", "THUE", []), ("violation", "CA", [])]
    alerts = []
    for i, (toks, (etype, agency, cats)) in enumerate(zip(tokens, kinds, strict=True)):
        summary = EventSummary(
            event_id=f"e{i}",
            event_type=etype,
            agency=agency,
            occurred_at=T0 + i * DAY_MS,
            recorded_at=T0 + i * DAY_MS,
            tokens=toks,
            categories=cats,
        )
        step = pipeline.event(summary)
        assert step.resolution is not None
        alerts += step.alerts
    live = [a for a in alerts if a.status != "MERGED"]
    assert {a.case_id for a in live} == {live[-1].case_id}
    assert {e.event_id for e in live[-1].evidence} == {"e0", "e1", "e2"}
    assert "counterfeit-tax-180d" in {r["rule_id"] for r in live[-1].rules}


def test_a_replayed_event_changes_nothing_and_republishes_the_latest_version() -> None:
    maps = _tables()
    pipeline = _pipeline(maps)
    events = story(3, 30)
    latest = {}
    for event in events:
        for alert in pipeline.event(event).alerts:
            latest[alert.case_id] = alert
    before = copy.deepcopy(maps)
    replayed = next(
        e
        for e in reversed(events)
        if any(e.event_id in {x.event_id for x in a.evidence} for a in latest.values())
    )
    again = pipeline.event(replayed).alerts
    assert again, "a replayed event republishes its case"
    assert all(a == latest[a.case_id] for a in again)  # identical records, no new version
    assert maps == before


def test_a_case_update_closes_the_case_of_its_cluster() -> None:
    pipeline = _pipeline(_tables())
    latest = {a.case_id: a for e in story(5, 40) for a in pipeline.event(e).alerts}
    case = next(a for a in latest.values() if a.status == "OPEN")
    header = {"event_id": "close-1", "agency": "QLTT", "occurred_at": T0 + 300 * DAY_MS}
    record = {"header": header, "case_id": case.case_id}
    step = pipeline.case_update(case_update_message({**record, "action": "CLOSE"}))
    assert [(a.case_id, a.status, a.version) for a in step.alerts] == [
        (case.case_id, "CLOSED", case.version + 1)
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000), st.lists(st.integers(min_value=1, max_value=80), max_size=6)
)
def test_batches_through_write_back_views_give_the_same_cases_as_plain_dicts(
    seed: int, flush_after: list[int]
) -> None:
    """The worker flushes its views once per batch; where batches end must not change any case."""
    events = story(seed)
    plain = _tables()
    reference = _pipeline(plain)
    direct = [a for e in events for a in reference.event(e).alerts]

    backing = _tables()
    views = {name: WriteBack(table) for name, table in backing.items()}
    batched = _pipeline(views)  # type: ignore[arg-type]
    got = []
    for i, event in enumerate(events, start=1):
        got += batched.event(event).alerts
        if i in flush_after:
            for view in views.values():
                view.flush()
    for view in views.values():
        view.flush()
    assert got == direct
    assert backing == plain


def test_the_same_event_id_from_other_agencies_is_other_evidence() -> None:
    """QLTT, THUE and CA each send an event with id S about one seller: three pieces of evidence,
    while a repeat of CA's own S is a duplicate (no new version)."""
    pipeline = _pipeline(_tables())
    shared = "00000000-0000-4000-8000-00000000005a"

    def event(agency: str, event_type: str, day: int, **kw: Any) -> EventSummary:
        return EventSummary(
            event_id=shared,
            event_type=event_type,
            agency=agency,
            occurred_at=T0 + day * DAY_MS,
            recorded_at=T0 + day * DAY_MS,
            tokens=["tax:0101234567"],
            summary=f"{agency} {event_type}",
            **kw,
        )

    assert pipeline.event(event("QLTT", "violation", 0, categories=["COUNTERFEIT"])).alerts == []
    opened = pipeline.event(event("THUE", "tax-anomaly", 30)).alerts
    assert [sorted(e.agency for e in a.evidence) for a in opened] == [["QLTT", "THUE"]]
    added = pipeline.event(event("CA", "inspection", 40)).alerts
    assert [(a.version, sorted(e.agency for e in a.evidence)) for a in added] == [(2, ["CA", "QLTT", "THUE"])]
    again = pipeline.event(event("CA", "inspection", 40)).alerts
    assert [a.version for a in again] == [2]  # republished, not a new version
