"""``agencybus bank ...``: run the State Bank service and act on requests from a terminal.

Reads as sentences: ``agencybus bank pending``, ``agencybus bank execute 42 --officer
"Trần Thị C"``. Officer actions write the ledger change, the signed status reply (to the
outbox) and the audit row in one transaction; the running ``agencybus bank serve``
publishes the reply. Instructions to credit institutions are handed to the sink at once.
"""

from __future__ import annotations

import csv
import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agencybus.settings import Settings, load_settings

# Role modules (SQLAlchemy, kafka, ...) are imported inside the verbs: every ``agencybus``
# command loads this module to register the verbs, and should not pay for them.

bank = typer.Typer(
    name="bank",
    help="State Bank branch: payment-block ledger, verification, officer actions, signed status replies.",
    no_args_is_help=True,
)
audit_app = typer.Typer(help="The append-only audit trail.", no_args_is_help=True)
bank.add_typer(audit_app, name="audit")
console = Console()

Ref = Annotated[str, typer.Argument(help="Ledger number (#), request id, or at least 8 characters of it")]
OfficerOpt = Annotated[
    str, typer.Option("--officer", help="Name of the officer acting (kept in the audit trail)")
]


def _settings() -> Settings:
    return load_settings()


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # paths stay whole
    raise typer.Exit(1)


# Written by `agencybus demo` (demo/bus.py): the lines that point a terminal at the demo's bank.
DEMO_BANK_ENV = Path("demo") / "bank.env"


def _demo_hint(settings: Settings) -> str:
    env_file = settings.data_dir / DEMO_BANK_ENV
    if env_file.exists():
        return f" (for the running demo: `source {env_file}`)"
    return ""


def _officer_ledger(settings: Settings) -> Any:
    """The ledger of the running ``agencybus bank serve``; an officer's command never starts a new one.

    With SQLite that is ``<data_dir>/state_bank.db``: a missing file means this terminal's
    AGENCYBUS_DATA_DIR is not the service's, and an empty new ledger would only hide that.
    """
    from consumers.state_bank.service import LEDGER_NAME, open_ledger

    if not settings.database_url:
        path = (settings.data_dir / f"{LEDGER_NAME}.db").resolve()
        if not path.exists():
            _fail(
                f"no ledger at {path}: AGENCYBUS_DATA_DIR ({settings.data_dir}) is not the data directory of "
                f"the running `agencybus bank serve` (it creates the ledger there); set AGENCYBUS_DATA_DIR, "
                f"or AGENCYBUS_DATABASE_URL, to the service's{_demo_hint(settings)}"
            )
    return open_ledger(settings)


def _ledger_name(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    from consumers.state_bank.service import LEDGER_NAME

    url = make_url(settings.sqlite_url(LEDGER_NAME))
    if url.drivername.startswith("sqlite"):
        return str(url.database)
    return url.render_as_string(hide_password=True)


def _check_branch_key(settings: Settings) -> None:
    """The officer's reply is signed with the service's key: point at its directory, never mint a new one."""
    from agencybus.signing import private_key_path
    from consumers.state_bank.outbox import BANK_SIGNER

    keys_dir = settings.resolved_keys_dir
    path = private_key_path(keys_dir, BANK_SIGNER)
    if not path.exists():
        _fail(
            f"no branch signing key at {path}: an officer's action is answered with a status reply signed "
            f"by the key of the running `agencybus bank serve`, so AGENCYBUS_KEYS_DIR ({keys_dir}) must be "
            f"its keys directory{_demo_hint(settings)}. Do not generate a new {BANK_SIGNER} key for this: "
            f"the agencies and the dashboard verify replies with the keyring/{BANK_SIGNER}.pub they hold, "
            "and every reply signed with another key would fail verification there"
        )


def _officer_action(name: str, step: Any) -> None:
    from agencybus.signing import SigningError
    from consumers.state_bank.ledger import LedgerError
    from consumers.state_bank.service import bank_context
    from consumers.state_bank.sinks import deliver_pending, make_sink

    settings = _settings()
    ledger = _officer_ledger(settings)
    _check_branch_key(settings)
    try:
        ctx = bank_context(settings)
        with ledger.transaction() as session:
            row = step(session, ctx)
            number, status, seq, request_id = row.id, row.status, row.last_sequence, row.request_id
        sink = make_sink(
            settings.bank_sink, data_dir=settings.data_dir, webhook_url=settings.bank_webhook_url
        )
        delivered, failed = deliver_pending(ledger, sink)
    except (LedgerError, SigningError) as exc:
        _fail(str(exc))
        return
    finally:
        ledger.close()
    console.print(
        f"request #{number} ({request_id}) is now [bold]{status}[/bold]; status reply #{seq} is queued "
        "in the outbox and published by the running `agencybus bank serve`"
    )
    if delivered or failed:
        console.print(
            f"instructions to credit institutions: {delivered} delivered, {failed} failed (retried)"
        )


def _scope_text(content: dict[str, Any]) -> str:
    """What is blocked: the scope, and the amount for an amount hold."""
    scope = str(content.get("scope") or "-")
    amount = content.get("amount_limit_vnd")
    if amount is None:
        return scope
    held = f"{int(amount):,}".replace(",", ".")  # 1.234.567, as Vietnamese documents write it
    return f"{scope}, {held} VND"


@bank.command("serve")
def serve(
    web: Annotated[bool, typer.Option("--web/--no-web", help="Also serve the officers' web page")] = True,
) -> None:
    """Consume payment-block requests into the ledger and publish signed status replies (Ctrl-C stops)."""
    from kafka.errors import KafkaError

    from agencybus.signing import SigningError
    from consumers.state_bank.service import BankService

    settings = _settings()
    from agencybus.logging import configure_logging

    configure_logging(settings)
    if settings.metrics_port:
        from agencybus.metrics import serve_metrics

        serve_metrics(settings.metrics_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        service = BankService(settings)
    except SigningError as exc:
        _fail(f"{exc} (the branch signs every status reply with this key)")
        return
    except KafkaError as exc:
        _fail(f"cannot reach Kafka at {settings.bootstrap_servers} (AGENCYBUS_BOOTSTRAP_SERVERS): {exc!r}")
        return
    server = None
    if web and settings.bank_web_port:
        import uvicorn

        from consumers.state_bank.web import create_app

        app = create_app(settings, service.ledger, service.ctx, service.sink)
        server = uvicorn.Server(
            uvicorn.Config(app, host=settings.gateway_host, port=settings.bank_web_port, log_level="warning")
        )
        threading.Thread(target=server.run, name="bank-web", daemon=True).start()
        console.print(f"officers' page on http://{settings.gateway_host}:{settings.bank_web_port}/")
    try:
        service.run(stop)
    finally:
        if server is not None:
            server.should_exit = True
        service.close()


@bank.command("pending")
def pending() -> None:
    """List requests waiting for an officer (overdue ones in red)."""
    from agencybus.masking import mask_account
    from consumers.state_bank.ledger import Ledger, utcnow

    settings = _settings()
    ledger = _officer_ledger(settings)
    now = utcnow()
    table = Table(title=f"Pending payment-block requests — {settings.bank_branch}")
    for col in ("#", "request", "agency", "decision", "targets", "received", "valid until", "state"):
        table.add_column(col)
    with ledger.reading() as session:
        rows = Ledger.pending(session)
        for row in rows:
            late = Ledger.is_overdue(row, now, settings.bank_sla_hours)
            targets = ", ".join(
                f"{t.credit_institution or 'UNKNOWN_BANK'} {mask_account(t.account_number)}"
                for t in row.targets
            )
            state = (
                row.status
                + (" · lift requested" if row.lift_request_id else "")
                + (" · OVERDUE" if late else "")
            )
            table.add_row(
                str(row.id),
                row.request_id[:8],
                row.agency,
                row.decision_number or "",
                targets,
                row.received_at.strftime("%Y-%m-%d %H:%M"),
                row.valid_until.strftime("%Y-%m-%d %H:%M"),
                state,
                style="red" if late else None,
            )
    ledger.close()
    console.print(table)
    console.print(
        f"{len(rows)} pending (SLA {settings.bank_sla_hours:g} h), ledger {_ledger_name(settings)}",
        soft_wrap=True,
        highlight=False,
    )


@bank.command("show")
def show(ref: Ref) -> None:
    """Show one request: content, targets, replies sent, instructions and audit trail."""
    from agencybus.masking import mask_account
    from consumers.state_bank.ledger import Ledger, LedgerError

    ledger = _officer_ledger(_settings())
    try:
        with ledger.reading() as session:
            row = Ledger.find(session, ref)
            basis = row.content.get("legal_basis") or {}
            console.print(f"[bold]#{row.id}[/bold] {row.action} {row.request_id} — [bold]{row.status}[/bold]")
            console.print(
                f"agency {row.agency} (requested by {row.content.get('requested_by') or '-'}), "
                f"province {row.province_code}, case {row.case_id or '-'}"
            )
            console.print(f"scope: {_scope_text(row.content)}", highlight=False)
            console.print(f"reason: {row.content.get('reason') or '-'}", highlight=False, markup=False)
            console.print(
                f"legal basis: {basis.get('legal_document')} {basis.get('article') or ''}; "
                f"decision {basis.get('decision_number') or 'NONE'} ({basis.get('issuing_authority') or '-'})"
            )
            console.print(f"valid {row.valid_from.isoformat()} → {row.valid_until.isoformat()}")
            if row.reason_code:
                console.print(f"[red]{row.reason_code}[/red]: {row.reason_text}")
            if row.lift_request_id:
                console.print(f"lift requested by {row.agency}: {row.lift_request_id}")
            for t in row.targets:
                console.print(
                    f"  target {t.target_id}: {t.kind} {t.credit_institution or 'UNKNOWN_BANK'} "
                    f"({t.bin or t.wallet_provider or '-'}) {mask_account(t.account_number)}, "
                    f"holder {t.account_name or '-'} — {t.state}",
                    highlight=False,
                    markup=False,
                )
            for out in Ledger.outbox_for(session, row.request_id):
                sent = out.sent_at.isoformat() if out.sent_at else "not yet published"
                console.print(f"  reply #{out.sequence} {out.status} {out.event_id} ({sent})")
            for ins in Ledger.instructions_for(session, row.request_id):
                where = ins.delivered_to or f"pending ({ins.last_error or 'not yet delivered'})"
                console.print(f"  instruction {ins.action} → {ins.credit_institution}: {where}")
            for a in Ledger.audit_trail(session, row.request_id):
                console.print(f"  {a.at.isoformat()} {a.actor}: {a.action} {a.detail or ''}")
    except LedgerError as exc:
        _fail(str(exc))
    finally:
        ledger.close()


@bank.command("execute")
def execute(ref: Ref, officer: OfficerOpt) -> None:
    """Execute a verified block: EXECUTED reply, one instruction per credit institution."""
    from consumers.state_bank import workflow
    from consumers.state_bank.ledger import utcnow

    _officer_action("execute", lambda s, ctx: workflow.execute(s, ref, officer, ctx, utcnow()))


@bank.command("reject")
def reject(
    ref: Ref,
    reason: Annotated[
        str, typer.Option("--reason", help="Why, in a sentence the requesting agency can act on")
    ],
    officer: OfficerOpt,
) -> None:
    """Refuse a request; the reason goes back to the agency in the REJECTED reply."""
    from consumers.state_bank import workflow
    from consumers.state_bank.ledger import utcnow

    _officer_action("reject", lambda s, ctx: workflow.reject(s, ref, reason, officer, ctx, utcnow()))


@bank.command("lift")
def lift(ref: Ref, officer: OfficerOpt) -> None:
    """Lift a block whose issuing agency sent a lift request; LIFT instructions go to the institutions."""
    from consumers.state_bank import workflow
    from consumers.state_bank.ledger import utcnow

    _officer_action("lift", lambda s, ctx: workflow.lift(s, ref, officer, ctx, utcnow()))


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
) -> None:
    """Export the whole audit trail as CSV (at, actor, action, request_id, before, after, detail)."""
    from consumers.state_bank.ledger import Ledger

    ledger = _officer_ledger(_settings())
    n = 0
    with ledger.reading() as session, out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "at", "actor", "action", "request_id", "before", "after", "detail"])
        for row in Ledger.audit_trail(session):
            writer.writerow(
                [
                    row.id,
                    row.at.isoformat(),
                    row.actor,
                    row.action,
                    row.request_id or "",
                    json.dumps(row.before, ensure_ascii=False, sort_keys=True) if row.before else "",
                    json.dumps(row.after, ensure_ascii=False, sort_keys=True) if row.after else "",
                    row.detail or "",
                ]
            )
            n += 1
    ledger.close()
    console.print(f"{n} audit rows written to {out}")


@bank.command("add-user")
def add_user_cmd(
    username: Annotated[str, typer.Argument(help="Login name of the officer")],
    display_name: Annotated[str | None, typer.Option("--name", help="Full name shown on the page")] = None,
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters"),
    ] = "",
) -> None:
    """Add (or reset) an officer of the web page; the password is stored argon2id-hashed."""
    from consumers.state_bank.users import UsersFileError, add_user, users_file

    path = users_file(_settings())
    try:
        add_user(path, username, password, display_name)
    except UsersFileError as exc:
        _fail(str(exc))
    console.print(f"officer {username} saved in {path}")


def register(app: typer.Typer) -> None:
    """Add this role's verb groups to the main app."""
    app.add_typer(bank, name="bank")
