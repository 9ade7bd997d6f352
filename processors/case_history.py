"""A joint case as the fold of its seller cluster's history in event time.

A cluster keeps its history: the event summaries and case updates (CLOSE / REOPEN) that
reached it, itself or through clusters it absorbed, sorted by :func:`item_key`
``(occurred_at, agency, event id)``. The case is what folding that history in this order
gives, one item at a time, as if every item had arrived in event time. So for a given set
of inputs the case's content (status, rules fired and when, evidence, opened and updated
times) does not depend on arrival order, batch boundaries, or which cluster of a merge
survives: only the case *id* and version numbers do (see docs/processors.md, "What case
ids depend on").

Folding one item (:func:`fold_item`):

* an event joins the working window (the events no older than the longest rule window);
  each rule not yet fired (or, for ``after_case_closed`` rules, not fired since the last
  closure) is tried with it as the trigger, over the window's events up to it;
* a rule that fires opens the case (evidence: the whole working window) or reopens a
  closed one, and every event it used becomes evidence, so a rule is never listed
  without the events that made it fire (its hit names them: ``evidence_ids``);
* a later event of an open case is evidence; one of a closed case is not, unless it
  makes a rule fire;
* a CLOSE closes an open case (``closed_at`` = its event time), a REOPEN reopens a closed one.

An item that sorts after everything folded so far extends the fold (the usual case:
agencies publish roughly in time order); an earlier one, or a merge, folds the history
again from its start.

**Pruning.** A cluster drops from its history the events older than the longest rule
window before its newest event that are not evidence of its case (case updates and
evidence are kept). Such an event matched nothing while it was in the window, so the fold
of what is kept gives the same case; what is lost is an event arriving more than that
window (365 days by default) of event time behind its cluster's newest event, or a merge
bringing events that far behind: it can no longer combine with the dropped ones.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from processors.events import EventSummary
from processors.rules import RuleSet
from schemas import ids

CASE_UPDATE = "case-update"

Item = dict[str, Any]  # an EventSummary dict, or a case update (``kind: case-update``)
Fold = dict[str, Any]  # {"case": content | None, "closed_at": int | None, "last": key | None}


def scoped_id(item: Item) -> str:
    """An input's id within its agency (``schemas.ids``): two agencies may use the same event id."""
    return ids.scoped_id(item.get("agency") or "", item["event_id"])


def item_key(item: Item) -> tuple[int, str, str]:
    """The event-time order of a cluster's history (ties broken by agency, then event id)."""
    return (int(item["occurred_at"]), str(item.get("agency") or ""), str(item["event_id"]))


def is_event(item: Item) -> bool:
    return item.get("kind") != CASE_UPDATE


def empty_fold() -> Fold:
    return {"case": None, "closed_at": None, "last": None}


def merge_histories(*histories: Iterable[Item]) -> list[Item]:
    """One history of several (duplicates of an input counted once), in event-time order."""
    unique = {scoped_id(i): i for h in histories for i in h}
    return sorted(unique.values(), key=item_key)


def insert_item(history: list[Item], item: Item) -> int:
    """Put ``item`` in its place; returns its index (the last: the fold can simply extend)."""
    key = item_key(item)
    if not history or item_key(history[-1]) < key:
        history.append(item)
        return len(history) - 1
    keys = [item_key(i) for i in history]
    index = bisect_left(keys, key)
    history.insert(index, item)
    return index


class CaseFolder:
    """Folds cluster histories with one rule set (pure: values in, values out)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.window_ms = rules.longest_window_ms

    def fold(self, history: Sequence[Item], first: int = 0) -> tuple[Fold, list[str]]:
        """The fold of a history, and the rules fired along the way.

        ``first``: fold from that item on, with the fold of everything before it empty (true
        while no rule has fired: before its case opens a cluster's fold holds nothing).
        """
        state = empty_fold()
        fired: list[str] = []
        times = [int(i["occurred_at"]) for i in history]
        start = bisect_left(times, times[first] - self.window_ms) if first else 0
        # each event's summary once for the whole fold (the windows overlap)
        summaries: list[EventSummary | None] = [None] * len(history)
        for index in range(start, len(history)):
            if is_event(history[index]):
                summaries[index] = EventSummary.from_dict(history[index])
        for index in range(first, len(history)):
            t = times[index]
            while times[start] < t - self.window_ms:
                start += 1
            window = history[start : index + 1]
            fired.extend(self.fold_item(state, history[index], window, summaries[start : index + 1]))
        return state, fired

    def refold(self, state: Fold, history: Sequence[Item], inserted: int) -> tuple[Fold, list[str]]:
        """The fold after an item went in at index ``inserted`` (before the end).

        From that item on when the fold up to it was empty (no case, or a case that opened
        later in event time); otherwise from the start.
        """
        case = state["case"]
        if case is None or int(history[inserted]["occurred_at"]) < case["opened_at"]:
            return self.fold(history, inserted)
        return self.fold(history)

    def extend(self, state: Fold, history: Sequence[Item]) -> list[str]:
        """Fold the history's last item onto the fold of everything before it."""
        item = history[-1]
        horizon = int(item["occurred_at"]) - self.window_ms
        start = bisect_left([int(i["occurred_at"]) for i in history], horizon)
        return self.fold_item(state, item, history[start:])

    def fold_item(
        self,
        state: Fold,
        item: Item,
        window: Sequence[Item],
        summaries: Sequence[EventSummary | None] | None = None,
    ) -> list[str]:
        """Apply one item (the last of ``window``, the items of the working window up to it;
        ``summaries``: the window's events as summaries, if already made)."""
        state["last"] = list(item_key(item))
        if not is_event(item):
            self._case_update(state, item)
            return []
        t = int(item["occurred_at"])
        fired = self._fire(state, item, window, summaries)
        case = state["case"]
        if case is None and not fired:
            return []
        if case is None:
            case = state["case"] = {
                "status": "OPEN",
                "opened_at": t,
                "updated_at": t,
                "rules": {},
                "evidence": [],
            }
            used = {item_key(e) for e in window if is_event(e)}
        elif case["status"] == "CLOSED" and not fired:
            return []
        else:
            used = {item_key(item)}
            case["status"] = "OPEN"
        for rule_id, events in fired.items():
            rule = self.rules.by_id(rule_id)
            case["rules"][rule_id] = {
                "rule_id": rule.id,
                "title": rule.title,
                "severity": rule.severity,
                "fired_at": t,
                # its grounds, so an audience is shown the rule only if it may see all of them
                "evidence_ids": sorted({ids.scoped_id(e.agency, e.event_id) for e in events}),
            }
            used.update((e.occurred_at, e.agency, e.event_id) for e in events)
        self._add_evidence(case, used)
        case["updated_at"] = max(case["updated_at"], t)
        return sorted(fired)

    @staticmethod
    def _add_evidence(case: dict[str, Any], used: set[tuple[int, str, str]]) -> None:
        """Evidence stays in event-time order; usually the new items simply come last."""
        evidence = case["evidence"]
        new = sorted(used)
        if not evidence or tuple(evidence[-1]) < new[0]:
            evidence.extend(list(k) for k in new)
            return
        known = {tuple(k) for k in evidence}
        if not used <= known:
            case["evidence"] = [list(k) for k in sorted(known | used)]

    def _fire(
        self,
        state: Fold,
        trigger_item: Item,
        window: Sequence[Item],
        summaries: Sequence[EventSummary | None] | None,
    ) -> dict[str, list[EventSummary]]:
        """Rules that newly fire with this trigger, and the events each used."""
        made = summaries[-1] if summaries else None
        trigger = made if made is not None else EventSummary.from_dict(trigger_item)
        case = state["case"]
        closed_at = state["closed_at"]
        events: list[EventSummary] | None = None  # built only if some rule has to look
        fired: dict[str, list[EventSummary]] = {}
        for rule in self.rules.rules:
            hit = case["rules"].get(rule.id) if case else None
            refire = rule.after_case_closed and closed_at is not None and hit and hit["fired_at"] <= closed_at
            if hit and not refire:
                continue
            if not rule.could_fire_with(trigger):
                continue
            if events is None:
                if summaries is not None:
                    events = [e for e in summaries if e is not None]
                else:
                    events = [EventSummary.from_dict(e) for e in window if is_event(e)]
            used = rule.evaluate(events, trigger, closed_at)
            if used is not None:
                fired[rule.id] = used
        return fired

    @staticmethod
    def _case_update(state: Fold, item: Item) -> None:
        case = state["case"]
        if case is None:
            return  # not (yet, in event time) a case: nothing to close or reopen
        t = int(item["occurred_at"])
        if item["action"] == "CLOSE" and case["status"] == "OPEN":
            case["status"] = "CLOSED"
            state["closed_at"] = max(state["closed_at"] or 0, t)
        elif item["action"] == "REOPEN" and case["status"] == "CLOSED":
            case["status"] = "OPEN"
        else:
            return
        case["updated_at"] = max(case["updated_at"], t)

    def prune(self, history: list[Item], fold: Fold) -> list[Item]:
        """Drop events no rule window can reach that are not evidence (see the module's docstring)."""
        if not history:
            return history
        horizon = int(history[-1]["occurred_at"]) - self.window_ms
        if int(history[0]["occurred_at"]) >= horizon:
            return history
        evidence = {tuple(k) for k in fold["case"]["evidence"]} if fold["case"] else set()
        return [
            i
            for i in history
            if int(i["occurred_at"]) >= horizon or not is_event(i) or item_key(i) in evidence
        ]
