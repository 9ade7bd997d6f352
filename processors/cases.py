"""Joint cases: per-cluster correlation state, case versions, and cluster merges.

The correlation stage is partitioned by seller cluster id. Each cluster's state (recent
events, the event ids seen, its joint case) lives under its cluster id, and every input
is a message for one cluster:

* ``event`` — an agency event resolved to this cluster (``absorbs`` lists clusters the
  identity stage merged into it with this event);
* ``absorb`` — this cluster was merged into ``into``: hand the state over, mark the case
  MERGED, leave a tombstone that forwards late messages;
* ``transfer`` — the state of an absorbed cluster arriving at the survivor;
* ``case-update`` — a person closed or reopened the case (from ``cases.updates.v1``).

A case's content is the fold of its cluster's whole history in event time
(``processors.case_history``): a transfer merges the two histories and folds them again,
so the surviving case holds the survivor's earlier events, the absorbed cluster's events
and both cases' updates, whichever side had a case. An event that merges clusters waits
(buffered) until the absorbed clusters' state has arrived, so the result does not depend
on which partition was faster. One handled message gives at most one new case version;
versions and timestamps derive from event times only, so replaying the same inputs
yields identical alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from processors.case_history import (
    CASE_UPDATE,
    CaseFolder,
    empty_fold,
    insert_item,
    is_event,
    item_key,
    merge_histories,
    scoped_id,
)
from processors.events import EventSummary, to_ms
from processors.rules import RuleSet, max_severity
from schemas.sharing import STEERING_COMMITTEE


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
    rules: list[dict[str, Any]]  # rule_id, title, severity, fired_at, evidence_ids
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


def _snapshot_of(history: list[dict[str, Any]], content: dict[str, Any]) -> list[EventSummary]:
    by_key = {item_key(i): i for i in history if is_event(i)}
    return [EventSummary.from_dict(by_key[(k[0], k[1], k[2])]) for k in content["evidence"]]


class Correlator:
    """Applies messages to a cluster's state (a JSON-able dict) with the configured rules.

    The state holds the cluster's history and its fold (``processors.case_history``), the
    case's id and version counter, and the merge bookkeeping (tombstone, pending absorbs,
    buffered messages). A message that changes the fold's case gives one new version.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.folder = CaseFolder(rules)
        self._by_id = {r.id: r for r in rules.rules}

    @staticmethod
    def empty_state(cluster_id: str) -> dict[str, Any]:
        return {
            "cluster_id": cluster_id,
            "history": [],
            "seen": [],
            "fold": empty_fold(),
            "case": None,  # {"case_id", "version", "merged_into"} once the fold has a case
            "merged_into": None,
            "absorbed": [],
            "pending": [],
            "buffer": [],
        }

    def handle(self, state: dict[str, Any] | None, message: dict[str, Any]) -> tuple[dict[str, Any], Outcome]:
        """Apply one message; returns the new state and what to publish or send."""
        cluster_id = message["cluster_id"]
        state = self._upgraded(state) if state is not None else self.empty_state(cluster_id)
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
                outcome.sends.append(Send(state["merged_into"], self._transfer(state)))
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
        sid = scoped_id(event)
        if sid in state["seen"] or any(scoped_id(m["event"]) == sid for m in state["buffer"] if "event" in m):
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
        return self._add_item(state, event, outcome)

    def _add_item(self, state: dict[str, Any], item: dict[str, Any], outcome: Outcome) -> bool:
        """Put one input in the history and fold it; True when the case changed."""
        state["seen"].append(scoped_id(item))
        before = _signature(state["fold"]["case"])
        index = insert_item(state["history"], item)
        if index == len(state["history"]) - 1:
            fired = self.folder.extend(state["fold"], state["history"])
        else:  # earlier in event time than something already folded: fold again from there
            old_rules = dict(state["fold"]["case"]["rules"]) if state["fold"]["case"] else {}
            state["fold"], _ = self.folder.refold(state["fold"], state["history"], index)
            fired = _newly_fired(old_rules, state["fold"]["case"])
        state["history"] = self.folder.prune(state["history"], state["fold"])
        outcome.fired.extend(fired)
        return self._changed(state, before, bool(fired))

    def _changed(self, state: dict[str, Any], before: Any, fired: bool) -> bool:
        content = state["fold"]["case"]
        if content is None:
            return False
        if state["case"] is None:
            state["case"] = {"case_id": case_id_for(state["cluster_id"]), "version": 0, "merged_into": None}
            return True
        return fired or _signature(content) != before

    def _on_absorb(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        into = message["into"]
        if state["pending"]:
            state["buffer"].append(message)
            return False
        if state["merged_into"]:  # a replayed absorb: hand the state over again, re-announce MERGED
            outcome.sends.append(Send(state["merged_into"], self._transfer(state)))
            self._republish(state, outcome)
            return False
        state["merged_into"] = into
        outcome.sends.append(Send(into, self._transfer(state)))
        case = state["case"]
        if case is None:
            return False
        case["merged_into"] = case_id_for(into)
        return True

    @staticmethod
    def _transfer(state: dict[str, Any]) -> dict[str, Any]:
        """The absorbed cluster's history for the survivor (a tombstone's state no longer changes)."""
        return {
            "kind": "transfer",
            "cluster_id": state["merged_into"],
            "from": state["cluster_id"],
            "state": {"history": state["history"], "seen": state["seen"], "absorbed": state["absorbed"]},
        }

    def _on_transfer(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        source = message["from"]
        if source in state["absorbed"]:
            self._republish(state, outcome)
            return False
        incoming = message["state"]
        state["absorbed"] = sorted({*state["absorbed"], source, *incoming["absorbed"]})
        state["pending"] = [c for c in state["pending"] if c != source]
        state["seen"] = sorted({*state["seen"], *incoming["seen"]})
        before = state["fold"]["case"]
        # the merged case is the fold of both histories, whichever cluster had a case
        state["history"] = merge_histories(state["history"], incoming["history"])
        state["fold"], _ = self.folder.fold(state["history"])
        state["history"] = self.folder.prune(state["history"], state["fold"])
        fired = _newly_fired(dict(before["rules"]) if before else {}, state["fold"]["case"])
        outcome.fired.extend(fired)
        dirty = self._changed(state, _signature(before), bool(fired)) or (
            before is not None and before != state["fold"]["case"]
        )
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

    def _on_case_update(self, state: dict[str, Any], message: dict[str, Any], outcome: Outcome) -> bool:
        item = {
            "kind": CASE_UPDATE,
            "event_id": message["event_id"],
            "agency": message.get("agency") or "",
            "occurred_at": message["occurred_at"],
            "action": message["action"],
            "case_id": message["case_id"],
        }
        if scoped_id(item) in state["seen"]:
            self._republish(state, outcome)
            return False
        ours = {case_id_for(c) for c in (state["cluster_id"], *state["absorbed"])}
        if message["case_id"] not in ours or not state["history"]:
            return False
        return self._add_item(state, item, outcome)

    # -- helpers ---------------------------------------------------------------------

    def _upgraded(self, state: dict[str, Any]) -> dict[str, Any]:
        """State written before cases were folds (events + case evidence): convert it once."""
        if "history" in state:
            return state
        old = state.get("case")
        history = merge_histories(state.get("events") or [], (old or {}).get("evidence") or [])
        if old and old.get("status") == "CLOSED" and state.get("closed_at") is not None:
            history = merge_histories(
                history,
                [
                    {
                        "kind": CASE_UPDATE,
                        "event_id": "closed-before-upgrade",
                        "agency": "",
                        "occurred_at": state["closed_at"],
                        "action": "CLOSE",
                        "case_id": old["case_id"],
                    }
                ],
            )
        new = self.empty_state(state["cluster_id"])
        new.update(
            history=history,
            seen=[scoped_id(e) for e in history],
            merged_into=state.get("merged_into"),
            absorbed=state.get("absorbed") or [],
            pending=state.get("pending") or [],
            buffer=state.get("buffer") or [],
        )
        new["fold"], _ = self.folder.fold(history)
        if old:
            new["case"] = {
                "case_id": old["case_id"],
                "version": old["version"],
                "merged_into": old.get("merged_into"),
            }
        return new

    def _republish(self, state: dict[str, Any], outcome: Outcome) -> None:
        """A replayed input: publish the current version again (identical records), change nothing.

        After a crash the state may already hold the input while the alerts it caused were
        lost with the producer's buffer; republishing makes sure they reach the topics.
        """
        outcome.duplicate = True
        case = state["case"]
        if case and case["version"] > 0 and not state["pending"] and state["fold"]["case"]:
            outcome.alerts.append(self._snapshot(state))

    def _bump(self, state: dict[str, Any]) -> CaseSnapshot:
        state["case"]["version"] += 1
        return self._snapshot(state)

    def snapshot(self, state: dict[str, Any]) -> CaseSnapshot:
        """The current version of a cluster's case (it must have one)."""
        return self._snapshot(state)

    def _snapshot(self, state: dict[str, Any]) -> CaseSnapshot:
        meta = state["case"]
        content = state["fold"]["case"]
        evidence = _snapshot_of(state["history"], content)
        recipients = {STEERING_COMMITTEE}
        for rule_id in content["rules"]:
            rule = self._by_id.get(rule_id)  # a rule removed from the file keeps its hit, not its recipients
            if rule is not None:
                recipients |= rule.recipients_for(evidence)
        rules = sorted(content["rules"].values(), key=lambda h: (h["fired_at"], h["rule_id"]))
        return CaseSnapshot(
            case_id=meta["case_id"],
            cluster_id=state["cluster_id"],
            version=meta["version"],
            status="MERGED" if meta["merged_into"] else content["status"],
            merged_into=meta["merged_into"],
            severity=max_severity(h["severity"] for h in rules),
            rules=rules,
            recipients=sorted(recipients),
            evidence=evidence,
            opened_at=content["opened_at"],
            updated_at=content["updated_at"],
        )


def _signature(content: dict[str, Any] | None) -> Any:
    """What a version shows that can change: status, evidence count, rules and their times."""
    if content is None:
        return None
    return (
        content["status"],
        len(content["evidence"]),
        content["opened_at"],
        content["updated_at"],
        tuple(sorted((r, h["fired_at"]) for r, h in content["rules"].items())),
    )


def _newly_fired(old_rules: dict[str, Any], content: dict[str, Any] | None) -> list[str]:
    """Rules the fold has now that it did not have (or has fired again since), for the metrics."""
    if content is None:
        return []
    return sorted(
        r
        for r, h in content["rules"].items()
        if r not in old_rules or old_rules[r]["fired_at"] != h["fired_at"]
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
            "agency": str(record["header"].get("agency") or ""),
            "action": str(record["action"]),
            "occurred_at": to_ms(record["header"]["occurred_at"]),
        },
    )
