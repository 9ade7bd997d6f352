"""Who may see which evidence of a joint case: TLP 2.0, decided in this one place.

The processors' routing (what goes to ``alerts.<agency>.v1``), the dashboard (case page,
search, CSV, live feed) and the forwarder all ask :func:`may_see`, and build what a
viewer gets with :func:`visible_alert`, so they cannot disagree. As MISP does for
distribution, the level holds for everything an item brings: an identifier, a seller name,
a commune or a summary that only withheld items carry is withheld with them, and so is a
rule that fired on a withheld item (with the severity it gave); the viewer learns only how
many items were withheld.

TLP 2.0 (FIRST, 2022) as the bus applies it, the unit of sharing being an agency:

* ``CLEAR``, ``GREEN`` — every agency;
* ``AMBER`` — the agencies the case is routed to (its recipients: need to know);
* ``AMBER_STRICT`` (TLP:AMBER+STRICT) — the issuing agency only;
* ``RED`` — the issuing agency only (events name no further individual recipients);
* any other value — nobody else: fail closed.

The steering committee is the named recipient of everything published on the bus (it
oversees every case, DESIGN "Who uses it"), so it and the full ``ALL`` copy see every level.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from schemas.ids import scoped_id

SHARING_LEVELS = ("CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED")
STEERING_COMMITTEE = "BCD389"
AUDIENCE_ALL = "ALL"
EVERYTHING = frozenset({AUDIENCE_ALL, STEERING_COMMITTEE})
DEFAULT_SHARING = "AMBER"
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")  # the Avro Severity enum's symbols, in order
_ANY_AGENCY = frozenset({"CLEAR", "GREEN"})


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def _level(item: Any) -> str:
    value = _field(item, "sharing")
    return str(getattr(value, "value", value))


def sees_everything(viewer_agency: str) -> bool:
    """The steering committee and the full copy: nothing is withheld from them."""
    return viewer_agency in EVERYTHING


def may_see(viewer_agency: str, item: Any, recipients: Collection[str] = ()) -> bool:
    """Whether ``viewer_agency`` may see one evidence item (``agency`` and ``sharing``, as a
    mapping or attributes) of a case routed to ``recipients``."""
    if viewer_agency in EVERYTHING or viewer_agency == str(_field(item, "agency")):
        return True
    level = _level(item)
    if level in _ANY_AGENCY:
        return True
    if level == "AMBER":
        return viewer_agency in recipients
    return False  # AMBER_STRICT, RED, and any level this version does not know


def most_restrictive(levels: Iterable[str], default: str = DEFAULT_SHARING) -> str:
    """The strictest of some levels (unknown levels count as strictest)."""
    rank = {level: i for i, level in enumerate(SHARING_LEVELS)}
    return max(levels, key=lambda lv: rank.get(lv, len(SHARING_LEVELS)), default=default)


def visible_alert(alert: Mapping[str, Any], viewer_agency: str) -> dict[str, Any]:
    """A JointCaseAlert record (v2 field names, any Python types) as ``viewer_agency`` may see it.

    Evidence the viewer may not see is dropped and counted in ``withheld_count``; the seller's
    identifiers, name and communes are rebuilt from the items kept, so an identifier no kept
    item carries (one of withheld evidence, or one of a v1 record that does not say which item
    brought it) is not in the result. ``withheld`` (v1's per-agency counts) is emptied: the
    viewer learns how many items were withheld and nothing else. The same holds for what the
    case derives from its evidence: an agency named only by withheld items is left out of the
    recipients, and the case's, the header's and each rule hit's times are rebuilt from the kept
    items (the version's ``recorded_at`` when none is kept). A rule hit is kept only if the
    viewer may see every item it fired on (:func:`rule_shown`), and the severity is the highest
    of the hits kept. Applying it to its own result changes nothing.
    """
    out = dict(alert)
    out["audience"] = viewer_agency
    if sees_everything(viewer_agency):
        return out
    recipients = [str(r) for r in alert.get("recipients") or []]
    evidence = list(alert.get("evidence") or [])
    kept: list[Any] = []
    hidden: list[Any] = []
    for e in evidence:
        (kept if may_see(viewer_agency, e, recipients) else hidden).append(e)
    previously = int(alert.get("withheld_count") or 0) + sum(
        int(w["count"]) for w in alert.get("withheld") or []
    )
    out["evidence"] = kept
    out["withheld"] = []
    out["withheld_count"] = previously + len(hidden)
    out["seller_tokens"] = sorted({str(t) for e in kept for t in e.get("seller_tokens") or []})
    names = [e["seller_name"] for e in kept if e.get("seller_name")]
    out["seller_name"] = names[-1] if names else None
    out["commune_codes"] = sorted({str(e["commune_code"]) for e in kept if e.get("commune_code")})
    # an agency the viewer knows of only through evidence withheld from it is not named
    seen_agencies = {str(e["agency"]) for e in kept} | {viewer_agency}
    hidden_agencies = {str(e["agency"]) for e in hidden}
    out["recipients"] = [r for r in recipients if r in seen_agencies or r not in hidden_agencies]
    header = alert.get("header")
    times = sorted(e["occurred_at"] for e in kept if e.get("occurred_at") is not None)
    fallback = header.get("recorded_at") if isinstance(header, Mapping) else None
    opened = times[0] if times else fallback
    updated = times[-1] if times else fallback
    if "opened_at" in alert or "updated_at" in alert:
        # the case's own times come from its earliest and latest evidence: the viewer's
        out["opened_at"], out["updated_at"] = opened, updated
    if "rules_fired" in alert or "severity" in alert:
        # a rule is shown only on grounds the viewer sees, and only shown rules rate the case
        nothing_withheld = not hidden and not previously
        grounds = {scoped_id(str(e["agency"]), e["event_id"]) for e in kept if e.get("event_id")}
        shown = [h for h in alert.get("rules_fired") or [] if rule_shown(h, grounds, nothing_withheld)]
        out["rules_fired"] = [{**h, "fired_at": seen_time(h.get("fired_at"), times, opened)} for h in shown]
        out["severity"] = highest(str(getattr(h["severity"], "value", h["severity"])) for h in shown)
    if isinstance(header, Mapping):
        out["header"] = {**header, "sharing": most_restrictive(_level(e) for e in kept)}
        if "occurred_at" in header and updated is not None:
            out["header"]["occurred_at"] = updated
    return out


def rule_shown(hit: Mapping[str, Any], visible: Collection[str], nothing_withheld: bool) -> bool:
    """Whether a viewer is shown a rule hit: every item it fired on (``evidence_ids``, scoped
    ``<agency>/<event_id>``) is in ``visible``. A hit that does not name them (written before
    JointCaseAlert v3) is shown only to a viewer from which nothing is withheld: fail closed."""
    named = [str(g) for g in hit.get("evidence_ids") or []]
    if not named:
        return nothing_withheld
    return all(g in visible for g in named)


def highest(severities: Iterable[str]) -> str:
    """The highest of some rule severities; ``LOW`` when there are none (nothing raises it)."""
    rank = {level: i for i, level in enumerate(SEVERITIES)}
    return max(severities, key=lambda s: rank.get(s, len(SEVERITIES)), default=SEVERITIES[0])


def seen_time(fired_at: Any, times: list[Any], opened: Any) -> Any:
    """When a rule fired, as the viewer may know it: the latest time of the viewer's evidence
    at or before the firing (the firing's own time may be a withheld item's), else ``opened``."""
    if fired_at is None:
        return None
    before = [t for t in times if t <= fired_at]
    return before[-1] if before else opened


def withheld_text(count: int) -> str | None:
    """The line a viewer sees, such as "2 items withheld"; None when nothing was withheld."""
    if count <= 0:
        return None
    return f"{count} item{'s' if count != 1 else ''} withheld"


__all__ = [
    "AUDIENCE_ALL",
    "SEVERITIES",
    "SHARING_LEVELS",
    "STEERING_COMMITTEE",
    "highest",
    "may_see",
    "most_restrictive",
    "rule_shown",
    "seen_time",
    "sees_everything",
    "visible_alert",
    "withheld_text",
]
