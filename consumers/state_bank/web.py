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
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from agencybus.i18n import LANGS, Translator, pick_lang, translator
from agencybus.i18n import jinja as i18n_jinja
from agencybus.masking import mask_account
from agencybus.settings import Settings
from consumers.state_bank import workflow
from consumers.state_bank.ledger import Ledger, LedgerError, utcnow
from consumers.state_bank.sinks import InstructionSink, deliver_pending
from consumers.state_bank.users import authenticate, load_users, users_file
from consumers.state_bank.web_labels import AUDIT_ACTIONS, REASONS
from schemas import reference

COOKIE = "agencybus_bank_session"
LANG_COOKIE = "agencybus_lang"
HERE = Path(__file__).parent

_env = i18n_jinja.install(Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True))
_env.filters["mask"] = mask_account


@pass_context
def _reason(context: Context, code: str | None) -> str:
    """A refusal reason in the reader's words (the code itself if it has no label yet)."""
    if not code:
        return ""
    tr: Translator = context["tr"]
    return tr.gettext(REASONS[code]) if code in REASONS else code


@pass_context
def _audit_action(context: Context, action: str) -> str:
    tr: Translator = context["tr"]
    return tr.gettext(AUDIT_ACTIONS[action]) if action in AUDIT_ACTIONS else action


@pass_context
def _province(context: Context, code: str | None) -> str:
    found = reference.provinces().get(code or "")
    if found is None:
        return code or ""
    tr: Translator = context["tr"]
    return found.name_vi if tr.lang == "vi" else found.name_en


_env.globals.update(reason=_reason, audit_action=_audit_action, province=_province)


def _render(template: str, tr: Translator, **ctx: Any) -> str:
    body = _env.get_template(template).render(tr=tr, lang=tr.lang, **ctx) if template else ""
    return _env.get_template("layout.html").render(body=Markup(body), tr=tr, lang=tr.lang, **ctx)


def _tr(request: Request) -> Translator:
    return translator(pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)))


def _page(request: Request, html: str, status_code: int = 200) -> HTMLResponse:
    response = HTMLResponse(html, status_code=status_code)
    chosen = request.query_params.get("lang")
    if chosen in LANGS:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


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
    def login_form(request: Request, err: str | None = None) -> Response:
        tr = _tr(request)
        error = tr.gettext("Wrong user name or password.") if err == "login" else None
        html = _render(
            "login.html", tr, title=tr.gettext("Log in"), branch=settings.bank_branch, user=None, err=error
        )
        return _page(request, html)

    @app.post("/login")
    def login(username: str = Form(...), password: str = Form(...)) -> Response:
        officer = authenticate(load_users(users_path), username.strip(), password)
        if officer is None:
            return RedirectResponse("/login?err=login", 303)
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
            tr = _tr(request)
            page = _render(
                "index.html",
                tr,
                title=tr.gettext("Payment-block requests"),
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
        return _page(request, page)

    @app.get("/requests/{ref}", response_class=HTMLResponse)
    def detail(ref: str, request: Request) -> Response:
        sess = session_of(request)
        if sess is None:
            return to_login()
        tr = _tr(request)
        with ledger.reading() as session:
            try:
                row = Ledger.find(session, ref)
            except LedgerError as exc:
                html = _render(
                    "", tr, title=tr.gettext("Not found"), branch=settings.bank_branch, err=str(exc)
                )
                return _page(request, html, 404)
            page = _render(
                "detail.html",
                tr,
                title=tr.gettext("Request #%(n)s", n=row.id),
                branch=settings.bank_branch,
                user=sess["name"],
                csrf=sess["csrf"],
                r=row,
                basis=row.content.get("legal_basis") or {},
                audit=Ledger.audit_trail(session, row.request_id),
            )
        return _page(request, page)

    def act(request: Request, csrf: str, step: Any) -> Response:
        sess = session_of(request)
        if sess is None:
            return to_login()
        if not secrets.compare_digest(csrf, sess["csrf"]):
            message = _tr(request).gettext("The form's security token is missing or wrong; reload the page.")
            return HTMLResponse(message, status_code=403)
        tr = _tr(request)
        try:
            with ledger.transaction() as session:
                row = step(session, sess["u"])
                text = tr.gettext(
                    "Request #%(n)s: %(status)s (officer %(officer)s)",
                    n=row.id,
                    status=tr.label("BlockStatus", row.status),
                    officer=sess["u"],
                )
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
