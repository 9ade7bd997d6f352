"""The officers' web page: pending, overdue and executed requests, with execute / reject / lift.

Same stack as the gateway (FastAPI). Officers log in with a user from the users file
(argon2 hashes, ``agencybus bank add-user``); the session is a signed cookie; every
action form carries a per-session CSRF token. The actions call the same workflow as
the CLI, so a click writes the ledger change, the signed reply and the audit row in one
transaction, and the officer's name is the logged-in user.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment
from markupsafe import Markup

from agencybus.masking import mask_account
from agencybus.settings import Settings
from consumers.state_bank import workflow
from consumers.state_bank.ledger import Ledger, LedgerError, utcnow
from consumers.state_bank.sinks import InstructionSink, deliver_pending
from consumers.state_bank.users import authenticate, load_users, users_file

COOKIE = "agencybus_bank_session"

_env = Environment(autoescape=True)
_env.filters["mask"] = mask_account
_env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if isinstance(d, datetime) else ""

_LAYOUT = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>{{ title }} — NHNN {{ branch }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2733}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
th,td{border-bottom:1px solid #d6dbe1;padding:.35rem .5rem;text-align:left;font-size:.92rem;
vertical-align:top}
tr.overdue td{background:#fde2e1} .badge{padding:.1rem .4rem;border-radius:.3rem;font-size:.8rem}
.badge.overdue{background:#c62828;color:#fff} .msg{background:#e8f4ea;padding:.5rem;margin-bottom:1rem}
.err{background:#fde2e1;padding:.5rem;margin-bottom:1rem} form.inline{display:inline}
header{display:flex;justify-content:space-between;align-items:center}
</style></head><body>
<header><h1>{{ title }}</h1>{% if user %}<form method="post" action="/logout">
<span>{{ user }}</span> <button>Đăng xuất / Log out</button></form>{% endif %}</header>
{% if msg %}<div class="msg">{{ msg }}</div>{% endif %}{% if err %}<div class="err">{{ err }}</div>{% endif %}
{{ body }}
</body></html>"""

_LOGIN = """<form method="post" action="/login">
<p><label>Tên đăng nhập / Username <input name="username" autocomplete="username" required></label></p>
<p><label>Mật khẩu / Password <input name="password" type="password" autocomplete="current-password" required>
</label></p><button>Đăng nhập / Log in</button></form>"""

_ACTIONS = """{% if r.status == 'RECEIVED' and not r.lift_request_id %}
<form class="inline" method="post" action="/requests/{{ r.id }}/execute">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Thực hiện / Execute</button></form>
<form class="inline" method="post" action="/requests/{{ r.id }}/reject">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input name="reason" placeholder="Lý do / reason" required><button>Từ chối / Reject</button></form>
{% endif %}{% if r.lift_request_id and r.status in ('RECEIVED', 'EXECUTED') %}
<form class="inline" method="post" action="/requests/{{ r.id }}/lift">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Gỡ phong tỏa / Lift</button></form>{% endif %}"""

_INDEX = (
    """
<h2>Chờ xử lý / Pending ({{ pending|length }}, quá hạn / overdue {{ overdue }})</h2>
<table><tr><th>#</th><th>Request</th><th>Agency</th><th>Decision</th><th>Targets</th><th>Received</th>
<th>Valid until</th><th>Status</th><th>Action</th></tr>
{% for r, late in pending %}<tr class="{{ 'overdue' if late else '' }}" id="req-{{ r.id }}">
<td><a href="/requests/{{ r.id }}">{{ r.id }}</a></td><td>{{ r.request_id[:8] }}</td><td>{{ r.agency }}</td>
<td>{{ r.decision_number or '' }}</td>
<td>{% for t in r.targets %}{{ t.credit_institution or 'UNKNOWN_BANK' }} {{ t.account_number|mask }}<br>
{% endfor %}</td><td>{{ r.received_at|when }}</td><td>{{ r.valid_until|when }}</td>
<td>{{ r.status }}{% if r.lift_request_id %} · lift requested{% endif %}
{% if late %} <span class="badge overdue">QUÁ HẠN / OVERDUE</span>{% endif %}</td><td>"""
    + _ACTIONS
    + """</td></tr>{% else %}<tr><td colspan="9">Không có yêu cầu chờ xử lý / nothing pending</td></tr>
{% endfor %}</table>
<h2>Đã thực hiện / Executed ({{ executed|length }})</h2>
<table><tr><th>#</th><th>Request</th><th>Agency</th><th>Decision</th><th>Executed</th><th>Officer</th></tr>
{% for r in executed %}<tr><td><a href="/requests/{{ r.id }}">{{ r.id }}</a></td>
<td>{{ r.request_id[:8] }}</td>
<td>{{ r.agency }}</td><td>{{ r.decision_number or '' }}</td><td>{{ r.executed_at|when }}</td>
<td>{{ r.officer or '' }}</td></tr>{% else %}<tr><td colspan="6">—</td></tr>{% endfor %}</table>
<h2>Bị từ chối gần đây / Recently rejected</h2>
<table><tr><th>#</th><th>Request</th><th>Agency</th><th>Reason</th></tr>
{% for r in rejected %}<tr><td><a href="/requests/{{ r.id }}">{{ r.id }}</a></td>
<td>{{ r.request_id[:8] }}</td>
<td>{{ r.agency }}</td><td><code>{{ r.reason_code }}</code> {{ r.reason_text }}</td></tr>
{% else %}<tr><td colspan="4">—</td></tr>{% endfor %}</table>"""
)

_DETAIL = (
    """<p><a href="/">← danh sách / list</a></p>
<table><tr><th>Ledger #</th><td>{{ r.id }}</td></tr><tr><th>Request id</th><td>{{ r.request_id }}</td></tr>
<tr><th>Action</th><td>{{ r.action }}</td></tr><tr><th>Status</th><td>{{ r.status }}</td></tr>
<tr><th>Agency</th><td>{{ r.agency }}</td></tr><tr><th>Province</th><td>{{ r.province_code }}</td></tr>
<tr><th>Legal basis</th><td>{{ basis.legal_document }} {{ basis.article or '' }} —
decision {{ basis.decision_number or 'NONE' }} ({{ basis.issuing_authority or '' }})</td></tr>
<tr><th>Reason</th><td>{{ r.content.reason }}</td></tr>
<tr><th>Requested by</th><td>{{ r.content.requested_by }}</td></tr>
<tr><th>Validity</th><td>{{ r.valid_from|when }} → {{ r.valid_until|when }}</td></tr>
<tr><th>Rejection</th><td>{{ r.reason_code or '' }} {{ r.reason_text or '' }}</td></tr>
<tr><th>Officer</th><td>{{ r.officer or '' }}</td></tr></table>
<h2>Targets</h2><table><tr><th>#</th><th>Kind</th><th>Institution</th><th>Account</th><th>State</th></tr>
{% for t in r.targets %}<tr><td>{{ t.target_id }}</td><td>{{ t.kind }}</td>
<td>{{ t.credit_institution or 'UNKNOWN_BANK' }} ({{ t.bin or t.wallet_provider or '' }})</td>
<td>{{ t.account_number|mask }}</td><td>{{ t.state }}</td></tr>{% endfor %}</table>
<h2>Audit</h2><table><tr><th>When</th><th>Who</th><th>What</th><th>Detail</th></tr>
{% for a in audit %}<tr><td>{{ a.at|when }}</td><td>{{ a.actor }}</td><td>{{ a.action }}</td>
<td>{{ a.detail or '' }}</td></tr>{% endfor %}</table><p>"""
    + _ACTIONS
    + "</p>"
)


def _render(template: str, **ctx: Any) -> str:
    body = _env.from_string(template).render(**ctx)
    return _env.from_string(_LAYOUT).render(body=Markup(body), **ctx)


def session_secret(settings: Settings) -> str:
    """The cookie signing secret: the configured one, or one generated once under data_dir (0600)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    path: Path = settings.data_dir / "bank-session.secret"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(
    settings: Settings, ledger: Ledger, ctx: workflow.BankContext, sink: InstructionSink | None = None
) -> FastAPI:
    """The web app over an open ledger (the service passes its own; tests pass theirs)."""
    app = FastAPI(title=f"AgencyBus State Bank {settings.bank_branch}", docs_url=None, redoc_url=None)
    signer = URLSafeTimedSerializer(session_secret(settings), salt="agencybus-bank")
    max_age = settings.session_ttl_minutes * 60
    users_path = users_file(settings)

    def session_of(request: Request) -> dict[str, str] | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = signer.loads(cookie, max_age=max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse)
    def login_form(err: str | None = None) -> str:
        return _render(_LOGIN, title="Đăng nhập / Log in", branch=settings.bank_branch, user=None, err=err)

    @app.post("/login")
    def login(username: str = Form(...), password: str = Form(...)) -> Response:
        officer = authenticate(load_users(users_path), username.strip(), password)
        if officer is None:
            return RedirectResponse(
                "/login?err=" + quote("Sai tên hoặc mật khẩu / wrong username or password"), 303
            )
        response = RedirectResponse("/", status_code=303)
        token = signer.dumps(
            {"u": officer.username, "name": officer.display_name, "csrf": secrets.token_hex(16)}
        )
        response.set_cookie(COOKIE, token, max_age=max_age, httponly=True, samesite="strict")
        return response

    @app.post("/logout")
    def logout() -> Response:
        response = to_login()
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, msg: str | None = None, err: str | None = None) -> Response:
        sess = session_of(request)
        if sess is None:
            return to_login()
        now = utcnow()
        with ledger.reading() as session:
            pending = [
                (r, Ledger.is_overdue(r, now, settings.bank_sla_hours)) for r in Ledger.pending(session)
            ]
            executed = Ledger.with_status(session, "EXECUTED", 100)
            rejected = Ledger.with_status(session, "REJECTED", 20)
            for row in [*(r for r, _ in pending), *executed]:
                _ = row.targets  # load while the session is open
            page = _render(
                _INDEX,
                title="Yêu cầu phong tỏa tài khoản / Payment-block requests",
                branch=settings.bank_branch,
                user=sess["name"],
                csrf=sess["csrf"],
                pending=pending,
                overdue=sum(1 for _, late in pending if late),
                executed=executed,
                rejected=rejected,
                msg=msg,
                err=err,
            )
        return HTMLResponse(page)

    @app.get("/requests/{ref}", response_class=HTMLResponse)
    def detail(ref: str, request: Request) -> Response:
        sess = session_of(request)
        if sess is None:
            return to_login()
        with ledger.reading() as session:
            try:
                row = Ledger.find(session, ref)
            except LedgerError as exc:
                return HTMLResponse(
                    _render("", title="Not found", branch=settings.bank_branch, err=str(exc)), 404
                )
            page = _render(
                _DETAIL,
                title=f"Yêu cầu / Request #{row.id}",
                branch=settings.bank_branch,
                user=sess["name"],
                csrf=sess["csrf"],
                r=row,
                basis=row.content.get("legal_basis") or {},
                audit=Ledger.audit_trail(session, row.request_id),
            )
        return HTMLResponse(page)

    def act(request: Request, csrf: str, step: Any) -> Response:
        sess = session_of(request)
        if sess is None:
            return to_login()
        if not secrets.compare_digest(csrf, sess["csrf"]):
            return HTMLResponse("CSRF token missing or wrong; reload the page and try again", status_code=403)
        try:
            with ledger.transaction() as session:
                row = step(session, sess["u"])
                text = f"Yêu cầu #{row.id}: {row.status} (officer {sess['u']})"
        except LedgerError as exc:
            return RedirectResponse("/?err=" + quote(str(exc)), status_code=303)
        if sink is not None:
            deliver_pending(ledger, sink)
        return RedirectResponse("/?msg=" + quote(text), status_code=303)

    @app.post("/requests/{ref}/execute")
    def execute(ref: str, request: Request, csrf: str = Form("")) -> Response:
        return act(request, csrf, lambda s, officer: workflow.execute(s, ref, officer, ctx, utcnow()))

    @app.post("/requests/{ref}/reject")
    def reject(ref: str, request: Request, csrf: str = Form(""), reason: str = Form("")) -> Response:
        return act(request, csrf, lambda s, officer: workflow.reject(s, ref, reason, officer, ctx, utcnow()))

    @app.post("/requests/{ref}/lift")
    def lift(ref: str, request: Request, csrf: str = Form("")) -> Response:
        return act(request, csrf, lambda s, officer: workflow.lift(s, ref, officer, ctx, utcnow()))

    return app
