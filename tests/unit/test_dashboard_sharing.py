"""Nothing only withheld evidence holds reaches an agency user: case page, search, CSV, feed, forwarder.

Alerts take the real path: a case version is routed (processors.routing), encoded as the
worker encodes it, decoded as the dashboard and the forwarder decode it, and applied to a
real SQLite store behind the real web app.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from consumers.forwarder.forwarder import agency_payload
from consumers.steering import auth, reports
from consumers.steering import store as st
from consumers.steering.web.app import DashboardContext, create_app
from processors.alert_writer import AlertWriter
from processors.cases import CaseSnapshot
from processors.events import EventSummary
from processors.routing import route
from schemas import codec
from schemas.sharing import SHARING_LEVELS, may_see

T0 = 1_767_225_600_000
AGENCIES = ("QLTT", "CA", "THUE", "SYT", "SCT")
USERS = {a: f"{a.lower()}.officer" for a in AGENCIES} | {"BCD389": "bcd.chair"}
WRITER = AlertWriter()


@dataclass
class Dashboard:
    ctx: DashboardContext
    clients: dict[str, TestClient]  # by agency, each logged in as that agency's officer


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    tmp: Path = tmp_path_factory.mktemp("dash")
    store = st.Store(f"sqlite:///{tmp / 'dash.db'}")
    store.create_schema()
    users = tmp / "users.yaml"
    one_hash = auth.hash_password("correct horse battery")  # one argon2 hash for every officer
    entries = {name: {"agency": agency, "password_hash": one_hash} for agency, name in USERS.items()}
    users.write_text(yaml.safe_dump({"users": entries}), encoding="utf-8")
    ctx = DashboardContext(
        store=store,
        users_path=users,
        sessions=auth.Sessions("test-secret", ttl_minutes=60),
        publisher=None,
        province_code="38",
        agency_codes=["BCD389", *AGENCIES],
        names=lambda lang: reports.Names(),
    )
    app = create_app(ctx)
    clients = {}
    for user in auth.load_users(users).values():
        client = TestClient(app)
        client.cookies.set(auth.Sessions.COOKIE, ctx.sessions.issue(user))  # as a login issues it
        clients[user.agency] = client
    yield Dashboard(ctx, clients)
    for client in clients.values():
        client.close()
    store.close()


def summary_item(
    n: int, agency: str, sharing: str, tokens: list[str], name: str, commune: str, text: str
) -> EventSummary:
    return EventSummary(
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        event_type="violation",
        agency=agency,
        occurred_at=T0 + n * 1000,
        recorded_at=T0 + n * 1000,
        sharing=sharing,
        commune_code=commune,
        seller_name=name,
        tokens=tokens,
        summary=text,
    )


def publish(dashboard: Dashboard, snapshot: CaseSnapshot) -> dict[str, dict[str, Any]]:
    """Route, encode and decode one case version; the full copy into the store; copies by audience."""
    copies = route(snapshot, "38")
    decoded = {
        c.audience: codec.decode_message(value, headers)
        for c, (value, headers) in zip(copies, WRITER.encode_copies([c.record for c in copies]), strict=True)
    }
    dashboard.ctx.store.apply("JointCaseAlert", decoded["ALL"].record)
    return {a: agency_payload(d, a) for a, d in decoded.items() if a not in ("ALL", "BCD389")}


def feed_stream_text(client: TestClient) -> str:
    """The live stream from the start: its alert events and the first tiles (counts, charts, responses)."""
    lines: list[str] = []
    with client.stream("GET", "/live/stream?after=0&tiles=1") as response:
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("data:") and len(lines) > 1 and lines[-2] == "event: tiles":
                break
    return "\n".join(lines)


def leaks(text: str, values: set[str]) -> set[str]:
    """Values found in ``text`` as whole words (a digit string inside a longer one is not it)."""
    return {v for v in values if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w])", text)}


def surfaces(dashboard: Dashboard, agency: str, case_id: str) -> dict[str, str]:
    client = dashboard.clients[agency]
    return {
        "case page": client.get(f"/cases/{case_id}").text,
        "case list": client.get("/cases").text,
        "csv": client.get("/cases.csv").text,
        "feed page": client.get("/feed").text,
        "overview": client.get("/").text,
        "blocks page": client.get("/blocks").text,
    }


def derived_leaks(
    dashboard: Dashboard, agency: str, case_id: str, evidence: list[EventSummary], seen: list[bool]
) -> None:
    """What the case derives from its evidence, as the agency's officer is shown it: no agency
    named only by withheld items (list, filter), no time only a withheld item holds."""
    kept = [e for e, ok in zip(evidence, seen, strict=True) if ok]
    hidden = {e.agency for e in evidence} - {e.agency for e in kept} - {agency}
    viewer = st.Viewer(username=USERS[agency], agency=agency, steering=False)
    with dashboard.ctx.store.session() as s:
        detail = st.case_detail(s, viewer, case_id)
        assert detail is not None
        case = detail.case
        assert not hidden & set(case.recipients), (agency, case.recipients)
        kept_times = {e.occurred_at for e in kept}
        shown = {case.opened_at, case.updated_at, *(r.fired_at for r in detail.rules)}
        as_ms = {int(t.timestamp() * 1000) for t in shown if t is not None}
        assert not kept or as_ms <= kept_times, (agency, as_ms - kept_times)
        for other in hidden:
            found, _ = st.filtered_cases(s, viewer, st.CaseFilter(agency=other))
            assert case_id not in {c.case_id for c in found}, (agency, "agency filter", other)


def shown_severities(dashboard: Dashboard, agency: str, case_id: str) -> set[str]:
    """Every severity the agency's officer is shown for the case's (one) version: list, page, feed."""
    viewer = st.Viewer(username=USERS[agency], agency=agency, steering=False)
    with dashboard.ctx.store.session() as s:
        detail = st.case_detail(s, viewer, case_id)
        assert detail is not None
        feed = [e.severity for e in st.recent_feed(s, viewer, limit=1000) if e.version.case_id == case_id]
        return {
            detail.case.severity,
            *(h["severity"] for h in detail.history if h["kind"] == "version"),
            *feed,
        }


# ----------------------------------------------------------------------------- the issue's reproduction

RED_NID, RED_BANK, RED_WEB = "038190012345", "0011001234567", "halinh-sale.vn"


def test_qltt_officer_sees_nothing_of_police_red_evidence(dashboard: Dashboard) -> None:
    """Issue 16: the case page listed the RED item's national ID, bank account and website, and
    ``/cases?q=<national ID>`` found the case."""
    snapshot = CaseSnapshot(
        case_id="JC-red-repro",
        cluster_id="S-red-repro",
        version=2,
        status="OPEN",
        merged_into=None,
        severity="HIGH",
        rules=[{"rule_id": "multi-agency-violations-90d", "title": "t", "severity": "HIGH", "fired_at": T0}],
        recipients=["BCD389", "CA", "QLTT"],
        evidence=[
            summary_item(
                1, "QLTT", "GREEN", ["phone:+84912345678"], "Hà Linh Cosmetics", "38001", "QLTT fake serum"
            ),
            summary_item(
                2,
                "CA",
                "RED",
                [f"nid:{RED_NID}", f"bank:970436:{RED_BANK}", f"web:{RED_WEB}", "phone:+84912345678"],
                "Nguyễn Thị Hà Linh",
                "38123",
                "police file 77/CSKT",
            ),
        ],
        opened_at=T0,
        updated_at=T0 + 2000,
    )
    forwarded = publish(dashboard, snapshot)
    secret = {RED_NID, RED_BANK, RED_WEB, "Nguyễn Thị Hà Linh", "77/CSKT", "38123"}
    qltt = dashboard.clients["QLTT"]
    page = qltt.get("/cases/JC-red-repro").text
    assert "QLTT fake serum" in page and not leaks(page, secret)
    assert "Evidence items withheld from your agency: 1" in qltt.get("/cases/JC-red-repro?lang=en").text
    for q in (RED_NID, f"nid:{RED_NID}", RED_BANK, RED_WEB, "Nguyễn Thị Hà Linh"):
        assert "JC-red-repro" not in qltt.get("/cases", params={"q": q}).text, q
    assert "JC-red-repro" in qltt.get("/cases", params={"q": "0912345678"}).text  # QLTT's own
    assert not leaks(qltt.get("/cases.csv").text, secret)
    assert not leaks(json.dumps(forwarded["QLTT"], ensure_ascii=False), secret)
    chair = dashboard.clients["BCD389"]
    assert "JC-red-repro" in chair.get("/cases", params={"q": RED_NID}).text
    assert RED_NID in chair.get("/cases/JC-red-repro").text


# ----------------------------------------------------------------------------- the property

COUNTER = itertools.count(1)

ITEMS = hs.lists(
    hs.tuples(hs.sampled_from(AGENCIES), hs.sampled_from(SHARING_LEVELS), hs.booleans()),
    min_size=1,
    max_size=6,
)
RECIPIENTS = hs.sets(hs.sampled_from(AGENCIES), min_size=1, max_size=len(AGENCIES))


@pytest.mark.slow
def test_no_agency_user_sees_a_value_only_withheld_evidence_holds(dashboard: Dashboard) -> None:
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ITEMS, RECIPIENTS)
    def check(items: list[tuple[str, str, bool]], recipients: set[str]) -> None:
        n = next(COUNTER)
        case_id = f"JC-prop{n:04d}"
        shared = f"shop:shopee:hl{n:04d}x"  # every item that says True names the same shop
        evidence = []
        values: list[set[str]] = []
        typed: set[str] = set()
        for i, (agency, level, names_shop) in enumerate(items):
            nid, bank, web = f"9{n:05d}{i:02d}1111", f"77{n:05d}{i:02d}222", f"p{n}i{i}.example.vn"
            tokens = [f"nid:{nid}", f"bank:970436:{bank}", f"web:{web}", *([shared] if names_shop else [])]
            name, commune, text = f"Seller{n}x{i}", f"9{n % 100:02d}{i:02d}", f"summary{n}x{i}"
            typed |= {nid, bank, web, name, f"nid:{nid}", shared[12:]}
            evidence.append(summary_item(n * 10 + i, agency, level, tokens, name, commune, text))
            values.append(
                {nid, bank, web, name, commune, text, *tokens, *([shared[12:]] if names_shop else [])}
                | {f"rule{n:04d}i{i}", f"Title{n:04d}i{i}"}  # the rule that fired on this item alone
            )
        grounds = [f"{e.agency}/{e.event_id}" for e in evidence]
        rules = [
            {"rule_id": f"rule{n:04d}i{i}", "title": f"Title{n:04d}i{i}", "severity": "MEDIUM"}
            | {"fired_at": e.occurred_at, "evidence_ids": [grounds[i]]}
            for i, e in enumerate(evidence)
        ]
        rules.append(  # and one on all of them together
            {"rule_id": f"rule{n:04d}all", "title": f"Title{n:04d}all", "severity": "HIGH"}
            | {"fired_at": evidence[-1].occurred_at, "evidence_ids": grounds}
        )
        snapshot = CaseSnapshot(
            case_id=case_id,
            cluster_id=f"S-prop{n:04d}",
            version=1,
            status="OPEN",
            merged_into=None,
            severity="HIGH",
            rules=rules,
            recipients=sorted({"BCD389", *recipients}),
            evidence=evidence,
            opened_at=min(e.occurred_at for e in evidence),
            updated_at=max(e.occurred_at for e in evidence),
        )
        forwarded = publish(dashboard, snapshot)
        for agency in AGENCIES:
            seen = [may_see(agency, e, snapshot.recipients) for e in evidence]
            visible = set().union(*(v for v, ok in zip(values, seen, strict=True) if ok))
            secret = set().union(*(v for v, ok in zip(values, seen, strict=True) if not ok)) - visible
            if not all(seen):
                secret |= {f"rule{n:04d}all", f"Title{n:04d}all"}
            routed = agency in snapshot.recipients
            texts = surfaces(dashboard, agency, case_id)
            if routed:
                texts["live feed"] = feed_stream_text(dashboard.clients[agency])
                texts["forwarded"] = json.dumps(forwarded[agency], ensure_ascii=False)
            else:
                assert dashboard.clients[agency].get(f"/cases/{case_id}").status_code == 403
            for surface, text in texts.items():
                assert not leaks(text, secret), (agency, surface, leaks(text, secret))
            client = dashboard.clients[agency]
            for value in sorted(secret & typed):  # what an officer would type into the search box
                hit = client.get("/cases", params={"q": value}).text
                assert case_id not in hit, (agency, "search", value)
            if routed:
                derived_leaks(dashboard, agency, case_id, evidence, seen)
                rated = "HIGH" if all(seen) else "MEDIUM" if any(seen) else "LOW"
                assert shown_severities(dashboard, agency, case_id) == {rated}, (agency, seen)
            if routed and seen.count(False):
                assert (
                    f"Evidence items withheld from your agency: {seen.count(False)}"
                    in client.get(f"/cases/{case_id}?lang=en").text
                )
        chair = dashboard.clients["BCD389"].get(f"/cases/{case_id}").text
        assert all(text in chair for text in (e.summary for e in evidence))

    check()


def test_overview_counts_only_agency_events_the_viewer_may_see(tmp_path: Path) -> None:
    """Events outside any case count for an agency only at CLEAR/GREEN, or when they are its own."""
    from datetime import UTC, datetime, timedelta

    store = st.Store(f"sqlite:///{tmp_path / 'counts.db'}")
    store.create_schema()
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for n, (agency, level) in enumerate(
        [("CA", "RED"), ("CA", "AMBER_STRICT"), ("CA", "AMBER"), ("CA", "GREEN"), ("QLTT", "RED")]
    ):
        header = {
            "event_id": f"00000000-0000-4000-8000-{n:012d}",
            "occurred_at": now - timedelta(days=1),
            "recorded_at": now - timedelta(days=1),
            "agency": agency,
            "province_code": "38",
            "sharing": level,
        }
        assert store.apply("InspectionRecorded", {"header": header, "outcome": "NO_VIOLATION"})
    with store.session() as s:
        counts = {
            v.agency: st.overview(s, v, now=now, sla=store.sla).events_by_agency_week
            for v in (
                st.Viewer("q", "QLTT", False),
                st.Viewer("c", "CA", False),
                st.Viewer("b", "BCD389", True),
            )
        }
    assert counts == {"QLTT": {"CA": 1, "QLTT": 1}, "CA": {"CA": 4}, "BCD389": {"CA": 4, "QLTT": 1}}


# ----------------------------------------------------------------------------- rules follow their evidence

QLTT_ITEM, POLICE_ITEM = "00000000-0000-4000-8000-000000009001", "00000000-0000-4000-8000-000000009002"


def hit(rule_id: str, title: str, severity: str, *grounds: str) -> dict[str, Any]:
    """A rule hit on ``grounds`` (``<agency>/<event_id>``)."""
    return {"rule_id": rule_id, "title": title, "severity": severity, "fired_at": T0 + 9_002_000} | {
        "evidence_ids": list(grounds)
    }


def rule_case(case_id: str, version: int, rules: list[dict[str, Any]]) -> CaseSnapshot:
    """QLTT's GREEN item and the police's RED one; the rules as given (highest CRITICAL)."""
    return CaseSnapshot(
        case_id=case_id,
        cluster_id=f"S-{case_id}",
        version=version,
        status="OPEN",
        merged_into=None,
        severity="CRITICAL",
        rules=rules,
        recipients=["BCD389", "CA", "QLTT"],
        evidence=[
            summary_item(9001, "QLTT", "GREEN", ["phone:+84987000111"], "Shop Rules", "38001", "QLTT seized"),
            summary_item(9002, "CA", "RED", ["nid:038190099999"], "Police Name", "38123", "police 9/CSKT"),
        ],
        opened_at=T0 + 9_001_000,
        updated_at=T0 + 9_002_000,
    )


def cases_found(client: TestClient, case_id: str, **params: str) -> bool:
    return case_id in client.get("/cases", params=params).text


def test_a_rule_fired_on_withheld_evidence_reaches_no_surface_of_an_agency_user(dashboard: Dashboard) -> None:
    """Issue 16: the dashboard listed every rule of a case, with the severity it gave, to every
    recipient; a rule that fired on the police's RED item told QLTT by its title, its id in the
    rule filter, the severity filter, the tiles and the weekly chart that the police hold
    something. QLTT is shown only the rule on its own item; the police (and BCĐ 389) all three."""
    case_id = "JC-rules-red"
    rules = [
        hit("qltt-own-rule", "Own seizure rule", "MEDIUM", f"QLTT/{QLTT_ITEM}"),
        hit("police-only-rule", "Police file rule", "CRITICAL", f"CA/{POLICE_ITEM}"),
        hit("joint-rule", "Joint evidence rule", "HIGH", f"QLTT/{QLTT_ITEM}", f"CA/{POLICE_ITEM}"),
    ]
    snapshot = rule_case(case_id, 1, rules)
    now = datetime.fromtimestamp(snapshot.recorded_at / 1000, UTC)  # the version in this week's column
    viewers = {a: st.Viewer(USERS[a], a, a == "BCD389") for a in ("QLTT", "CA", "BCD389")}

    def counts() -> dict[tuple[str, str], dict[str, int]]:
        with dashboard.ctx.store.session() as s:
            out = {}
            for a, v in viewers.items():
                out[a, "tiles"] = st.overview(s, v, now=now, sla=dashboard.ctx.store.sla).open_by_severity
                out[a, "weeks"] = st.alerts_per_week(s, v, now=now)[-1][1]
            return out

    before = counts()
    forwarded = publish(dashboard, snapshot)
    after = counts()
    secret = {"police-only-rule", "Police file rule", "joint-rule", "Joint evidence rule"}
    qltt = dashboard.clients["QLTT"]
    texts = surfaces(dashboard, "QLTT", case_id) | {
        "live feed": feed_stream_text(qltt),
        "forwarded": json.dumps(forwarded["QLTT"], ensure_ascii=False),
        "case list (en)": qltt.get("/cases?lang=en").text,
        "case page (en)": qltt.get(f"/cases/{case_id}?lang=en").text,
    }
    for surface, text in texts.items():
        assert not leaks(text, secret), (surface, leaks(text, secret))
    for surface in ("case page", "csv", "live feed", "forwarded"):
        assert "qltt-own-rule" in texts[surface] or "Own seizure rule" in texts[surface], surface
    # filters are oracles too: the withheld rules and the severities only they give find nothing
    assert cases_found(qltt, case_id, rule="qltt-own-rule")
    assert not cases_found(qltt, case_id, rule="police-only-rule")
    assert not cases_found(qltt, case_id, rule="joint-rule")
    assert cases_found(qltt, case_id, severity="MEDIUM")
    assert not any(cases_found(qltt, case_id, severity=sev) for sev in ("HIGH", "CRITICAL"))
    with dashboard.ctx.store.session() as s:
        assert "police-only-rule" not in st.filter_options(s, viewers["QLTT"])["rules"]
        detail = st.case_detail(s, viewers["QLTT"], case_id)
        assert detail is not None and [r.rule_id for r in detail.rules] == ["qltt-own-rule"]
    assert shown_severities(dashboard, "QLTT", case_id) == {"MEDIUM"}
    # the tiles and the weekly chart moved by one case / one version, at the severity each may know
    moved = {
        key: {sev: n - before[key][sev] for sev, n in after[key].items() if n != before[key][sev]}
        for key in after
    }
    for a, sev in (("QLTT", "MEDIUM"), ("CA", "CRITICAL"), ("BCD389", "CRITICAL")):
        assert moved[a, "tiles"] == moved[a, "weeks"] == {sev: 1}, (a, moved)
    police = dashboard.clients["CA"]
    page = police.get(f"/cases/{case_id}").text
    assert all(r in page for r in ("qltt-own-rule", "police-only-rule", "joint-rule"))
    assert cases_found(police, case_id, rule="police-only-rule") and cases_found(
        police, case_id, severity="CRITICAL"
    )
    assert {h["rule_id"] for h in forwarded["CA"]["data"]["rules_fired"]} == {r["rule_id"] for r in rules}
    assert shown_severities(dashboard, "CA", case_id) == {"CRITICAL"}
    assert cases_found(dashboard.clients["BCD389"], case_id, rule="joint-rule")


def encoded_as(record: dict[str, Any], version: int) -> dict[str, Any]:
    """``record`` written by an older JointCaseAlert schema and read back as the dashboard reads it."""
    from schemas import catalog

    old = catalog.versions("JointCaseAlert")[version - 1]
    written = {
        **record,
        "rules_fired": [{k: v for k, v in h.items() if k != "evidence_ids"} for h in record["rules_fired"]],
    }
    if version == 1:  # v1: evidence items without the identifiers they brought, no withheld_count
        written.pop("withheld_count")
        written["evidence"] = [
            {k: v for k, v in e.items() if k not in ("seller_tokens", "seller_name")}
            for e in record["evidence"]
        ]
    writer, decoded = codec.decode(codec.encode_version(written, old))
    assert writer == old and writer != catalog.latest("JointCaseAlert")
    return decoded


@pytest.mark.parametrize("version", [1, 2])
def test_alerts_written_before_v3_still_decode_and_their_rules_fail_closed(
    dashboard: Dashboard, version: int
) -> None:
    """A v1/v2 alert (rule hits that do not name their evidence) decodes with ``evidence_ids``
    empty: its rules are shown to BCĐ 389 and to the police (nothing withheld from them), not to
    QLTT, from which the RED item is withheld. The next version, written as v3, names the
    grounds: QLTT is then shown the rule on its own item, still not the police's."""
    case_id = f"JC-rules-v{version}"
    rules = [
        hit("qltt-own-rule", "Own seizure rule", "MEDIUM", f"QLTT/{QLTT_ITEM}"),
        hit("police-only-rule", "Police file rule", "CRITICAL", f"CA/{POLICE_ITEM}"),
    ]
    full = next(c.record for c in route(rule_case(case_id, 1, rules), "38") if c.audience == "ALL")
    old = encoded_as(full, version)
    assert [h["evidence_ids"] for h in old["rules_fired"]] == [[], []]
    assert dashboard.ctx.store.apply("JointCaseAlert", old)
    qltt, police, chair = (dashboard.clients[a] for a in ("QLTT", "CA", "BCD389"))
    assert "QLTT seized" in qltt.get(f"/cases/{case_id}").text
    assert not leaks(
        qltt.get(f"/cases/{case_id}").text, {"qltt-own-rule", "police-only-rule", "Police file rule"}
    )
    assert shown_severities(dashboard, "QLTT", case_id) == {"LOW"}
    assert "police-only-rule" in police.get(f"/cases/{case_id}").text
    assert "police-only-rule" in chair.get(f"/cases/{case_id}").text
    publish(dashboard, rule_case(case_id, 2, rules))  # the processors upgraded: v3 names the grounds
    page = qltt.get(f"/cases/{case_id}").text
    assert "qltt-own-rule" in page and not leaks(page, {"police-only-rule", "Police file rule"})
    assert cases_found(qltt, case_id, rule="qltt-own-rule")
    assert not cases_found(qltt, case_id, severity="CRITICAL")
    assert "police-only-rule" in police.get(f"/cases/{case_id}").text
