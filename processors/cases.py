"""Joint cases: per-cluster correlation state, case versions, and cluster merges.

The correlation stage is partitioned by seller cluster id. Each cluster's state (recent
events, the events seen — by agency and event id, ``schemas.ids.scoped_id``, since two
agencies may choose the same event id — its joint case) lives under its cluster id, and
every input is a message for one cluster:

* ``event`` — an agency event resolved to this cluster (``absorbs`` lists clusters the
  identity stage merged into it with this event);
* ``absorb`` — this cluster was merged into ``into``: hand the state over, mark the case
  MERGED, leave a tombstone that forwards late messages;
* ``transfer`` — the state of an absorbed cluster arriving at the survivor;
* ``case-update`` — a person closed or reopened the case (from ``cases.updates.v1``).

An event that merges clusters waits (buffered) until the absorbed clusters' state has
arrived, so the result does not depend on which partition was faster. One handled
message gives at most one new case version; versions and timestamps derive from event
times only, so replaying the same inputs yields identical alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from processors.events import EventSummary, to_ms
from processors.rules import STEERING_COMMITTEE, RuleSet, max_severity
from schemas.ids import scoped_id


def case_id_for(cluster_id: str) -> str:
    """The case of a cluster: ``S-<hash>`` has case ``JC-<hash>`` (stable, and reversible)."""
    return "JC-" + cluster_id.removeprefix("S-")


def cluster_id_for_case(case_id: str) -> str:
    return "S-" + case_id.removeprefix("JC-")


@dataclass
class CaseSnapshot:
    """One version of a joint case, with the full evidence (routing decides who sees what)."""

    case_id: str
    cluster_id: str
    version: int
    status: str
    merged_into: str | None
    severity: str
    rules: list[dict[str, Any]]  # rule_id, title, severity, fired_at
    recipients: list[str]
    evidence: list[EventSummary]
    opened_at: int
    updated_at: int

    @property
    def recorded_at(self) -> int:
        return max((e.recorded_at for e in self.evidence), default=self.updated_at)


@dataclass
class Send:
    """A message for another cluster of the correlation stage (key = cluster id)."""

    cluster_id: str
    message: dict[str, Any]


@dataclass
class Outcome:
    alerts: list[CaseSnapshot] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)  # rule ids newly fired (metrics)
    duplicate: bool = False


def _new_case(cluster_id: str, opened_at: int) -> dict[str, Any]:
    return {
        "case_id": case_id_for(cluster_id),
        "version": 0,
        "status": "OPEN",
        "merged_into": None,
        "opened_at": opened_at,
        "updated_at": opened_at,
        "rules": {},
        "evidence": [],
    }


def _seen_key(event: dict[str, Any]) -> str:
    """What an event is known by in ``seen``: its agency and event id."""
    return scoped_id(event["agency"], event["event_id"])


def _sorted_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {_seen_key(e): e for e in events}
    return sorted(unique.values(), key=lambda e: (e["occurred_at"], e["event_id"], e["agency"]))


class Correlator:
    """Applies messages to a cluster's state (a JSON-able dict) with the configured rules."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._by_id = {r.id: r for r in rules.rules}

    @staticmethod
    def empty_state(cluster_id: str) -> dict[str, Any]:
        return {
            "cluster_id": cluster_id,
            "events": [],
            "seen": [],
            "case": None,
            "closed_at": None,
            "merged_into": None,
            "absorbed": [],
            "pending": [],
            "buffer": [],
            "transfer": None,
        }

    def handle(self, state: dict[str, Any] | None, message: dict[str, Any]) -> tuple[dict[str, Any], Outcome]:
        """Apply one message; returns the new state and what to publish or send."""
        cluster_id = message["cluster_id"]
        state = state if state is not None else self.empty_state(cluster_id)
        outcome = Outcome()
        dirty = self._apply(state, message, outcome)
        if dirty:
            outcome.alerts.append(self._bump(state))
        return state, outcome

    # -- message kinds -------------------------------------------------------------

    def _apply(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        kind = message["kind"]
        if state["merged_into"] and kind != "absorb":
            if kind == "transfer" and message["from"] in state["absorbed"]:
                # replayed after a crash: what this cluster sent on may have been lost with it
                if state["transfer"] is not None:
                    outcome.sends.append(Send(state["merged_into"], state["transfer"]))
                self._republish(state, outcome)
                return False
            outcome.sends.append(Send(state["merged_into"], {**message, "cluster_id": state["merged_into"]}))
            return False
        if kind == "event":
            return self._on_event(state, message, outcome)
        if kind == "absorb":
            return self._on_absorb(state, message, outcome)
        if kind == "transfer":
            return self._on_transfer(state, message, outcome)
        if kind == "case-update":
            return self._on_case_update(state, message, outcome)
        raise ValueError(f"unknown correlation message kind {kind!r}")

    def _on_event(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        event = message["event"]
        key = _seen_key(event)
        if key in state["seen"] or any(_seen_key(m["event"]) == key for m in state["buffer"] if "event" in m):
            self._republish(state, outcome)
            return False
        for other in message.get("absorbs") or []:
            if (
                other not in state["absorbed"]
                and other not in state["pending"]
                and other != state["cluster_id"]
            ):
                state["pending"].append(other)
        if state["pending"]:
            state["buffer"].append(message)
            return False
        return self._add_event(state, EventSummary.from_dict(event), outcome)

    def _add_event(self, state: dict[str, Any], event: EventSummary, outcome: Outcome) -> bool:
        state["seen"].append(scoped_id(event.agency, event.event_id))
        state["events"] = _sorted_events([*state["events"], event.to_dict()])
        self._prune(state)
        case = state["case"]
        fired = self._fire(state, [event])
        if case is None and not fired:
            return False
        if case is None:
            case = state["case"] = _new_case(state["cluster_id"], event.occurred_at)
            case["evidence"] = list(state["events"])
        elif case["status"] == "CLOSED" and not fired:
            return False
        else:
            case["evidence"] = _sorted_events([*case["evidence"], event.to_dict()])
            case["status"] = "OPEN"
        self._record_hits(case, fired, outcome)
        case["updated_at"] = max(case["updated_at"], event.occurred_at)
        return True

    def _fire(self, state: dict[str, Any], triggers: list[EventSummary]) -> dict[str, int]:
        """Rules that newly fire with one of ``triggers``, and the event time they fire at."""
        events: list[EventSummary] | None = None  # built only if some rule has to look
        case = state["case"]
        closed_at = state["closed_at"]
        fired: dict[str, int] = {}
        for rule in self.rules.rules:
            hit = case["rules"].get(rule.id) if case else None
            refire = rule.after_case_closed and closed_at is not None and hit and hit["fired_at"] <= closed_at
            if hit and not refire:
                continue
            for trigger in triggers:
                if not rule.could_fire_with(trigger):
                    continue
                if events is None:
                    events = [EventSummary.from_dict(e) for e in state["events"]]
                if rule.evaluate(events, trigger, closed_at) is not None:
                    fired[rule.id] = min(fired.get(rule.id, trigger.occurred_at), trigger.occurred_at)
        return fired

    def _record_hits(self, case: dict[str, Any], fired: dict[str, int], outcome: Outcome) -> None:
        for rule_id, fired_at in sorted(fired.items()):
            rule = self._by_id[rule_id]
            case["rules"][rule_id] = {
                "rule_id": rule.id,
                "title": rule.title,
                "severity": rule.severity,
                "fired_at": fired_at,
            }
            outcome.fired.append(rule_id)

    def _on_absorb(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        into = message["into"]
        if state["pending"]:
            state["buffer"].append(message)
            return False
        if state["merged_into"]:  # a replayed absorb: hand the state over again, re-announce MERGED
            if state["transfer"] is not None:
                outcome.sends.append(Send(state["merged_into"], state["transfer"]))
            self._republish(state, outcome)
            return False
        transfer = {
            "kind": "transfer",
            "cluster_id": into,
            "from": state["cluster_id"],
            "state": {
                "events": state["events"],
                "seen": state["seen"],
                "case": state["case"],
                "closed_at": state["closed_at"],
                "absorbed": state["absorbed"],
            },
        }
        state["merged_into"] = into
        state["transfer"] = transfer
        state["events"], state["seen"] = [], []
        outcome.sends.append(Send(into, transfer))
        case = state["case"]
        if case is None:
            return False
        case["status"] = "MERGED"
        case["merged_into"] = case_id_for(into)
        return True

    def _on_transfer(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        source = message["from"]
        if source in state["absorbed"]:
            self._republish(state, outcome)
            return False
        incoming = message["state"]
        state["absorbed"] = sorted({*state["absorbed"], source, *incoming["absorbed"]})
        state["pending"] = [c for c in state["pending"] if c != source]
        state["seen"] = sorted({*state["seen"], *incoming["seen"]})
        state["events"] = _sorted_events([*state["events"], *incoming["events"]])
        closes = [c for c in (state["closed_at"], incoming["closed_at"]) if c is not None]
        state["closed_at"] = max(closes) if closes else None
        self._prune(state)
        dirty = self._merge_case(state, incoming.get("case"))
        if state["case"] is not None and incoming["events"]:
            state["case"]["evidence"] = _sorted_events([*state["case"]["evidence"], *incoming["events"]])
            dirty = True
        # events that only now share a cluster may satisfy a rule together
        fired = self._fire(state, [EventSummary.from_dict(e) for e in state["events"]])
        if fired:
            case = state["case"]
            if case is None:
                case = state["case"] = _new_case(state["cluster_id"], min(fired.values()))
                case["evidence"] = list(state["events"])
            case["status"] = "OPEN"
            self._record_hits(case, fired, outcome)
            dirty = True
        if not state["pending"]:
            # The merge and each waiting message are versions of their own, exactly as if the
            # absorbed state had arrived before them: versions do not depend on timing.
            if dirty:
                outcome.alerts.append(self._bump(state))
            buffered, state["buffer"] = state["buffer"], []
            for queued in buffered:
                if self._apply(state, queued, outcome):  # a tombstone forwards the rest
                    outcome.alerts.append(self._bump(state))
            return False
        return dirty

    def _merge_case(self, state: dict[str, Any], other: dict[str, Any] | None) -> bool:
        if not other:
            return False
        case = state["case"]
        if case is None:
            case = state["case"] = _new_case(state["cluster_id"], other["opened_at"])
        case["opened_at"] = min(case["opened_at"], other["opened_at"])
        case["updated_at"] = max(case["updated_at"], other["updated_at"])
        for rule_id, hit in other["rules"].items():
            mine = case["rules"].get(rule_id)
            if mine is None or hit["fired_at"] < mine["fired_at"]:
                case["rules"][rule_id] = hit
        case["evidence"] = _sorted_events([*case["evidence"], *other["evidence"]])
        if other["status"] == "OPEN":
            case["status"] = "OPEN"
        return True

    def _on_case_update(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        case = state["case"]
        key = scoped_id(message.get("agency", ""), message["event_id"])
        if key in state["seen"]:
            self._republish(state, outcome)
            return False
        if case is None or case["case_id"] != message["case_id"]:
            return False
        state["seen"].append(key)
        action = message["action"]
        if action == "CLOSE" and case["status"] == "OPEN":
            case["status"] = "CLOSED"
            state["closed_at"] = max(state["closed_at"] or 0, message["occurred_at"])
        elif action == "REOPEN" and case["status"] == "CLOSED":
            case["status"] = "OPEN"
        else:
            return False
        case["updated_at"] = max(case["updated_at"], message["occurred_at"])
        return True

    # -- helpers ---------------------------------------------------------------------

    def _republish(self, state: dict[str, Any], outcome: Outcome) -> None:
        """A replayed input: publish the current version again (identical records), change nothing.

        After a crash the state may already hold the input while the alerts it caused were
        lost with the producer's buffer; republishing makes sure they reach the topics.
        """
        outcome.duplicate = True
        if state["case"] and state["case"]["version"] > 0 and not state["pending"]:
            outcome.alerts.append(self._snapshot(state))

    def _prune(self, state: dict[str, Any]) -> None:
        """Keep only events a rule window can still reach (the case keeps its own evidence)."""
        if not state["events"]:
            return
        newest = max(e["occurred_at"] for e in state["events"])
        horizon = newest - self.rules.longest_window_ms
        state["events"] = [e for e in state["events"] if e["occurred_at"] >= horizon]

    def _bump(self, state: dict[str, Any]) -> CaseSnapshot:
        state["case"]["version"] += 1
        return self._snapshot(state)

    def _snapshot(self, state: dict[str, Any]) -> CaseSnapshot:
        case = state["case"]
        evidence = [EventSummary.from_dict(e) for e in case["evidence"]]
        recipients = {STEERING_COMMITTEE}
        for rule_id in case["rules"]:
            rule = self._by_id.get(rule_id)  # a rule removed from the file keeps its hit, not its recipients
            if rule is not None:
                recipients |= rule.recipients_for(evidence)
        rules = sorted(case["rules"].values(), key=lambda h: (h["fired_at"], h["rule_id"]))
        return CaseSnapshot(
            case_id=case["case_id"],
            cluster_id=state["cluster_id"],
            version=case["version"],
            status=case["status"],
            merged_into=case["merged_into"],
            severity=max_severity(h["severity"] for h in rules),
            rules=rules,
            recipients=sorted(recipients),
            evidence=evidence,
            opened_at=case["opened_at"],
            updated_at=case["updated_at"],
        )


def correlation_messages(cluster_id: str, absorbed: list[str], event: dict[str, Any]) -> list[Send]:
    """What the identity stage sends for one resolved event: absorb requests first, then the event."""
    sends = [Send(c, {"kind": "absorb", "cluster_id": c, "into": cluster_id}) for c in absorbed]
    sends.append(
        Send(
            cluster_id, {"kind": "event", "cluster_id": cluster_id, "absorbs": list(absorbed), "event": event}
        )
    )
    return sends


def case_update_message(record: dict[str, Any]) -> Send:
    """The correlation message for a CaseUpdated record (fastavro types), keyed by the case's cluster."""
    cluster_id = cluster_id_for_case(str(record["case_id"]))
    return Send(
        cluster_id,
        {
            "kind": "case-update",
            "cluster_id": cluster_id,
            "case_id": str(record["case_id"]),
            "event_id": str(record["header"]["event_id"]),
            "agency": str(record["header"]["agency"]),
            "action": str(record["action"]),
            "occurred_at": to_ms(record["header"]["occurred_at"]),
        },
    )
