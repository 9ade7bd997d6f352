"""Rebuild: re-correlate the retained history with the current rules, warninglist and limits.

Plain Python (no kafka): :class:`Rebuild` takes the summaries of the agency topics and the
officers' case updates in the order read, runs the one-writer core
(``processors.pipeline``) over in-memory tables into a new namespace, and at the end
(:meth:`Rebuild.finish`) compares the new cases with the cases the running namespace
announced:

* each new case is matched to the announced case it shares the most evidence with
  (one to one); a matched case keeps that case id, so the dashboard and the forwarders,
  which know cases by id, see at most one new version of it and never a second case;
* the case updates (``cases.updates.v1``) are applied after the events, to the case that
  now holds the case they named: a case is the fold of its history in event time, so
  officers' closes and reopens land where they would have had they arrived in time;
* what changed is the :class:`ChangeReport`; the versions to publish when the new
  namespace takes over are :attr:`Rebuilt.publish`: a changed case's next version, a new
  case's first, a MERGED version for an announced case now inside another, and a CLOSED
  version for one that no rule opens any more. Unchanged cases publish nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from processors.case_history import is_event
from processors.cases import CaseSnapshot, Correlator, Send, case_id_for, cluster_id_for_case
from processors.events import EventSummary
from processors.identity import IdentityResolver, TokenHasher, Warninglist
from processors.pipeline import CorrelationPipeline
from processors.rules import RuleSet

TABLES = (
    "identity-token-root",
    "identity-parent",
    "identity-neighbours",
    "identity-hot-tokens",
    "identity-memo",
    "cluster-state",
)


class JsonValues(MutableMapping[str, Any]):
    """A dict that keeps its values as JSON bytes: a million events' state in a fraction of the memory."""

    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> Any:
        return orjson.loads(self.raw[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.raw[key] = orjson.dumps(value)

    def __delitem__(self, key: str) -> None:
        del self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class AnnouncedCase:
    """The latest version the running namespace published of one case (its ALL-audience copy)."""

    case_id: str
    version: int
    status: str
    merged_into: str | None
    severity: str
    rule_ids: frozenset[str]
    recipients: tuple[str, ...]
    evidence_ids: frozenset[str]
    record: Mapping[str, Any]  # the decoded JointCaseAlert

    @classmethod
    def from_alert(cls, record: Mapping[str, Any]) -> AnnouncedCase:
        return cls(
            case_id=str(record["case_id"]),
            version=int(record["version"]),
            status=str(record["status"]),
            merged_into=record.get("merged_into"),
            severity=str(record["severity"]),
            rule_ids=frozenset(str(h["rule_id"]) for h in record["rules_fired"]),
            recipients=tuple(sorted(record["recipients"])),
            evidence_ids=frozenset(str(e["event_id"]) for e in record["evidence"]),
            record=record,
        )


@dataclass
class CaseChange:
    case_id: str
    kind: str  # opened | closed | merged | changed
    evidence_added: int = 0
    evidence_removed: int = 0
    rules_added: tuple[str, ...] = ()
    rules_removed: tuple[str, ...] = ()
    into: str | None = None


@dataclass
class ChangeReport:
    events: int = 0
    case_updates: int = 0
    rejected: int = 0
    cases_before: int = 0
    cases_after: int = 0
    unchanged: int = 0
    splits: int = 0  # announced cases whose evidence is now in two or more cases
    updates_dropped: int = 0  # officers' updates of cases that no longer exist
    changes: list[CaseChange] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def evidence_added(self) -> int:
        return sum(c.evidence_added for c in self.changes)

    @property
    def evidence_removed(self) -> int:
        return sum(c.evidence_removed for c in self.changes)

    def lines(self) -> list[str]:
        """The report as an operator reads it before deciding to switch."""
        out = [
            f"history: {self.events:,} events, {self.case_updates:,} case updates"
            + (f", {self.rejected:,} records rejected (dead letters)" if self.rejected else ""),
            f"cases: {self.cases_before:,} announced -> {self.cases_after:,} after the rebuild "
            f"({self.unchanged:,} unchanged)",
            f"opened {self.count('opened'):,}, closed {self.count('closed'):,}, "
            f"merged {self.count('merged'):,}, split {self.splits:,}, changed {self.count('changed'):,}",
            f"evidence: {self.evidence_added:,} added, {self.evidence_removed:,} removed",
        ]
        if self.updates_dropped:
            out.append(f"officers' updates of cases that no longer exist: {self.updates_dropped:,}")
        for c in sorted(self.changes, key=lambda c: (c.kind, c.case_id))[:50]:
            detail = []
            if c.evidence_added or c.evidence_removed:
                detail.append(f"evidence +{c.evidence_added} -{c.evidence_removed}")
            if c.rules_added:
                detail.append("rules +" + ",".join(c.rules_added))
            if c.rules_removed:
                detail.append("rules -" + ",".join(c.rules_removed))
            if c.into:
                detail.append(f"into {c.into}")
            out.append(f"  {c.kind:<8} {c.case_id}  {'; '.join(detail)}")
        if len(self.changes) > 50:
            out.append(f"  ... and {len(self.changes) - 50:,} more")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "case_updates": self.case_updates,
            "rejected": self.rejected,
            "cases_before": self.cases_before,
            "cases_after": self.cases_after,
            "unchanged": self.unchanged,
            "opened": self.count("opened"),
            "closed": self.count("closed"),
            "merged": self.count("merged"),
            "split": self.splits,
            "changed": self.count("changed"),
            "evidence_added": self.evidence_added,
            "evidence_removed": self.evidence_removed,
            "updates_dropped": self.updates_dropped,
        }


@dataclass
class Rebuilt:
    tables: dict[str, MutableMapping[str, Any]]
    publish: list[CaseSnapshot]
    report: ChangeReport


class Rebuild:
    """Re-correlates a history into fresh tables; see the module docstring."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        namespace: str,
        warninglist: Warninglist | None = None,
        hot_token_limit: int = 20,
        hasher: TokenHasher | None = None,
    ) -> None:
        self.tables: dict[str, MutableMapping[str, Any]] = {name: {} for name in TABLES}
        self.tables["cluster-state"] = JsonValues()
        self.resolver = IdentityResolver(
            *(self.tables[name] for name in TABLES[:5]),
            warninglist=warninglist,
            hot_token_limit=hot_token_limit,
            hasher=hasher,
            namespace=namespace,
        )
        self.correlator = Correlator(rules)
        self.pipeline = CorrelationPipeline(self.resolver, self.correlator, self.tables["cluster-state"])
        self.updates: list[Send] = []
        self.report = ChangeReport()

    def event(self, summary: EventSummary) -> None:
        self.pipeline.event(summary)
        self.report.events += 1

    def case_update(self, send: Send) -> None:
        """Kept for the end: it names a case id of the running namespace."""
        self.updates.append(send)
        self.report.case_updates += 1

    def rejected(self) -> None:
        self.report.rejected += 1

    # -- the end -------------------------------------------------------------------

    def finish(self, announced: Mapping[str, AnnouncedCase]) -> Rebuilt:
        states = self.tables["cluster-state"]
        live_before = {cid: c for cid, c in announced.items() if c.status != "MERGED"}
        self.report.cases_before = len(live_before)
        new_cases = self._live_cases()
        owners = _owners(live_before)
        assignment = _match(new_cases, owners)
        self._relabel({cluster: cluster_id_for_case(old) for cluster, old in assignment.items()})
        self._apply_updates(announced)
        publish: list[CaseSnapshot] = []
        kept: dict[str, str] = {}  # announced case id -> the case id its evidence is in now
        holders: dict[str, set[str]] = {}  # announced case id -> new case ids holding its evidence
        after = 0
        for cluster_id in sorted(states):
            state = states[cluster_id]
            if state["merged_into"]:
                state["case"] = None  # never announced: a replay must not announce it now
                states[cluster_id] = state
                continue
            if state["case"] is None:
                continue
            after += 1
            snapshot = self.correlator.snapshot(state)
            evidence_ids = {e.event_id for e in snapshot.evidence}
            for event_id in evidence_ids:
                for old_id in owners.get(event_id, ()):
                    holders.setdefault(old_id, set()).add(snapshot.case_id)
            old = live_before.get(snapshot.case_id)
            if old is None:
                state["case"]["version"] = 1
                publish.append(self._versioned(state))
                self.report.changes.append(
                    CaseChange(snapshot.case_id, "opened", evidence_added=len(evidence_ids))
                )
            else:
                kept[old.case_id] = old.case_id
                change = _difference(old, snapshot)
                state["case"]["version"] = old.version + (1 if change else 0)
                if change:
                    publish.append(self._versioned(state))
                    self.report.changes.append(change)
                else:
                    self.report.unchanged += 1
            states[cluster_id] = state
        self.report.cases_after = after
        self.report.splits = sum(1 for ids in holders.values() if len(ids) > 1)
        gone = [old for old_id, old in sorted(live_before.items()) if old_id not in kept]
        summaries = self._summaries(frozenset().union(*(old.evidence_ids for old in gone)))
        for old in gone:
            old_id = old.case_id
            into = sorted(holders.get(old_id, ()))
            status = "MERGED" if into else "CLOSED"
            publish.append(self._final_version(old, status, into[0] if into else None, summaries))
            self.report.changes.append(
                CaseChange(old_id, "merged", into=into[0])
                if into
                else CaseChange(old_id, "closed", evidence_removed=len(old.evidence_ids))
            )
        return Rebuilt(self.tables, publish, self.report)

    def _live_cases(self) -> dict[str, set[str]]:
        """Cluster id -> evidence event ids of every case the rebuild opened."""
        out: dict[str, set[str]] = {}
        for cluster_id, state in self.tables["cluster-state"].items():
            if state["case"] is not None and not state["merged_into"] and state["fold"]["case"]:
                out[cluster_id] = {str(k[2]) for k in state["fold"]["case"]["evidence"]}
        return out

    def _relabel(self, mapping: dict[str, str]) -> None:
        """Give matched clusters the cluster id of the case they continue, in every table."""
        if not mapping:
            return

        def m(cluster: Any) -> Any:
            return mapping.get(cluster, cluster) if isinstance(cluster, str) else cluster

        t = self.tables
        for token, cluster in list(t["identity-token-root"].items()):
            if cluster in mapping:
                t["identity-token-root"][token] = mapping[cluster]
        parent = t["identity-parent"]
        t["identity-parent"] = {m(k): m(v) for k, v in parent.items()}
        self.resolver.parent = t["identity-parent"]
        for token, seen in list(t["identity-neighbours"].items()):
            t["identity-neighbours"][token] = [m(c) for c in seen]
        for event_id, res in list(t["identity-memo"].items()):
            t["identity-memo"][event_id] = {
                **res,
                "cluster_id": m(res["cluster_id"]),
                "absorbed": [m(c) for c in res["absorbed"]],
            }
        states = t["cluster-state"]
        for cluster_id in list(states):
            state = states[cluster_id]
            changed = any(c in mapping for c in (cluster_id, state["merged_into"], *state["absorbed"]))
            if not changed:
                continue
            state["cluster_id"] = m(cluster_id)
            state["merged_into"] = m(state["merged_into"])
            state["absorbed"] = sorted(m(c) for c in state["absorbed"])
            if state["case"] is not None:
                state["case"]["case_id"] = case_id_for(state["cluster_id"])
            if cluster_id in mapping:
                del states[cluster_id]
            states[state["cluster_id"]] = state

    def _apply_updates(self, announced: Mapping[str, AnnouncedCase]) -> None:
        """Officers' updates, to the case that now continues the one they named."""
        states = self.tables["cluster-state"]
        for send in self.updates:
            case_id = send.message["case_id"]
            seen: set[str] = set()
            while case_id in announced and announced[case_id].merged_into and case_id not in seen:
                seen.add(case_id)
                case_id = str(announced[case_id].merged_into)
            cluster_id = cluster_id_for_case(case_id)
            state = states.get(cluster_id)
            if state is None or state["case"] is None:
                self.report.updates_dropped += 1
                continue
            self.pipeline.case_update(
                Send(cluster_id, {**send.message, "cluster_id": cluster_id, "case_id": case_id})
            )

    def _versioned(self, state: dict[str, Any]) -> CaseSnapshot:
        return self.correlator.snapshot(state)

    def _final_version(
        self, old: AnnouncedCase, status: str, into: str | None, summaries: Mapping[str, EventSummary]
    ) -> CaseSnapshot:
        """The last version of an announced case the rebuild no longer has as a case of its own."""
        record = old.record
        evidence = [
            summaries.get(str(e["event_id"]))
            or EventSummary(
                event_id=str(e["event_id"]),
                event_type=str(e["event_type"]),
                agency=str(e["agency"]),
                occurred_at=_ms(e["occurred_at"]),
                recorded_at=_ms(e["occurred_at"]),
                sharing=str(e.get("sharing") or "AMBER"),
                commune_code=e.get("commune_code"),
                summary=str(e.get("summary") or ""),
            )
            for e in record["evidence"]
        ]
        return CaseSnapshot(
            case_id=old.case_id,
            cluster_id=str(record["cluster_id"]),
            version=old.version + 1,
            status=status,
            merged_into=into,
            severity=old.severity,
            rules=[
                {
                    "rule_id": h["rule_id"],
                    "title": h["title"],
                    "severity": h["severity"],
                    "fired_at": _ms(h["fired_at"]),
                    "evidence_ids": list(h.get("evidence_ids") or []),
                }
                for h in record["rules_fired"]
            ],
            recipients=list(old.recipients),
            evidence=evidence,
            opened_at=_ms(record["opened_at"]),
            updated_at=_ms(record["updated_at"]),
        )

    def _summaries(self, event_ids: frozenset[str]) -> dict[str, EventSummary]:
        found: dict[str, EventSummary] = {}
        if not event_ids:
            return found
        for state in self.tables["cluster-state"].values():
            for item in state["history"]:
                if is_event(item) and item["event_id"] in event_ids:
                    found[item["event_id"]] = EventSummary.from_dict(item)
        return found


def _ms(value: Any) -> int:
    from processors.events import to_ms

    return to_ms(value)


def _owners(old_cases: Mapping[str, AnnouncedCase]) -> dict[str, list[str]]:
    """Event id -> the announced cases that list it as evidence."""
    owners: dict[str, list[str]] = {}
    for old_id, old in sorted(old_cases.items()):
        for event_id in old.evidence_ids:
            owners.setdefault(event_id, []).append(old_id)
    return owners


def _match(new_cases: Mapping[str, set[str]], owners: Mapping[str, list[str]]) -> dict[str, str]:
    """New cluster id -> announced case id: most shared evidence first, each used once (deterministic)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for cluster_id, evidence in new_cases.items():
        for event_id in evidence:
            for old_id in owners.get(event_id, ()):
                pairs[(cluster_id, old_id)] += 1
    assignment: dict[str, str] = {}
    used: set[str] = set()
    for (cluster_id, old_id), _ in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        if cluster_id not in assignment and old_id not in used:
            assignment[cluster_id] = old_id
            used.add(old_id)
    return assignment


def _difference(old: AnnouncedCase, new: CaseSnapshot) -> CaseChange | None:
    """What an officer would see change in a case, or None."""
    evidence = {e.event_id for e in new.evidence}
    rules = {h["rule_id"] for h in new.rules}
    if (
        evidence == old.evidence_ids
        and rules == old.rule_ids
        and new.status == old.status
        and new.severity == old.severity
        and tuple(new.recipients) == old.recipients
    ):
        return None
    return CaseChange(
        new.case_id,
        "changed",
        evidence_added=len(evidence - old.evidence_ids),
        evidence_removed=len(old.evidence_ids - evidence),
        rules_added=tuple(sorted(rules - old.rule_ids)),
        rules_removed=tuple(sorted(old.rule_ids - rules)),
    )
