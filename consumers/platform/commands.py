"""``agencybus platform ...``: run a platform's takedown service and answer requests from a terminal.

Reads as sentences: ``agencybus platform pending``, ``agencybus platform answer 3 --outcome removed
--officer "Trần Minh Khoa"``. An answer is written (signed) to the register's outbox; the running
``agencybus platform serve`` publishes it.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agencybus.settings import Settings, load_settings

platform_app = typer.Typer(
    name="platform",
    help="E-commerce platform: receive signed takedown requests, verify them, answer (signed).",
    no_args_is_help=True,
)
console = Console()

Ref = Annotated[str, typer.Argument(help="Register number (#), request id, or at least 8 characters of it")]


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _register(settings: Settings) -> Any:
    """The register of the running service; an officer's command never starts an empty new one."""
    from consumers.platform.service import REGISTER_NAME, open_register

    if not settings.database_url:
        path = (settings.data_dir / f"{REGISTER_NAME}.db").resolve()
        if not path.exists():
            _fail(
                f"no register at {path}: AGENCYBUS_DATA_DIR ({settings.data_dir}) is not the data directory "
                "of the running `agencybus platform serve` (it creates the register there); set "
                "AGENCYBUS_DATA_DIR, or AGENCYBUS_DATABASE_URL, to the service's"
            )
    return open_register(settings)


@platform_app.command("serve")
def serve(
    jsonl: Annotated[
        Path | None, typer.Option(help="Also follow this JSON Lines file (the forwarder's --jsonl sink)")
    ] = None,
) -> None:
    """Receive requests over HTTP (and JSONL), publish signed answers (Ctrl-C stops)."""
    import uvicorn

    from agencybus.logging import configure_logging
    from agencybus.signing import SigningError
    from consumers.platform.service import PlatformService
    from consumers.platform.web import Context, create_app
    from schemas.platforms import PlatformError

    settings = load_settings()
    configure_logging(settings)
    if settings.metrics_port:
        from agencybus.metrics import serve_metrics

        serve_metrics(settings.metrics_port)
    try:
        service = PlatformService(settings, jsonl=jsonl)
    except (SigningError, PlatformError) as exc:
        _fail(f"{exc} (AGENCYBUS_PLATFORM={settings.platform}; the platform signs every answer with its key)")
        return
    stop = threading.Event()
    ctx = Context(service.register, service.intake, service.signer, service.token, service.clock)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx), host=settings.platform_host, port=settings.platform_port, log_level="warning"
        )
    )
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    web = threading.Thread(target=server.run, name="platform-web", daemon=True)
    web.start()
    console.print(
        f"{service.policy.platform} takedown service on http://{settings.platform_host}:{settings.platform_port}"
        "/takedown-requests",
        highlight=False,
    )
    try:
        service.run(stop)
    finally:
        server.should_exit = True
        web.join(timeout=5)
        service.close()


@platform_app.command("pending")
def pending() -> None:
    """List accepted requests waiting for an answer, oldest deadline first (overdue ones marked)."""
    from consumers.platform.store import Register, utcnow

    settings = load_settings()
    register = _register(settings)
    now = utcnow()
    table = Table(title=f"Takedown requests waiting for {settings.platform}")
    for col in ("#", "request", "agency", "decision", "case", "targets", "deadline", "state"):
        table.add_column(col)
    with register.reading() as session:
        for row in Register.pending(session):
            standing = row.standing(now)
            table.add_row(
                str(row.id),
                (row.request_id or "")[:8],
                row.agency or "",
                row.decision_number or "",
                row.case_id or "",
                "\n".join(t.get("shop_handle") or t.get("listing_url") or "" for t in row.targets),
                row.deadline.strftime("%Y-%m-%d %H:%M UTC") if row.deadline else "",
                standing.value if standing else "",
            )
    console.print(table)


@platform_app.command("list")
def list_requests(
    status: Annotated[
        str | None, typer.Option(help="Only this status (RECEIVED, REMOVED, REFUSED, ...)")
    ] = None,
) -> None:
    """Every request the service recorded, refused ones with their reason code."""
    from consumers.platform.store import Register

    register = _register(load_settings())
    table = Table(title="Takedown requests")
    for col in ("#", "request", "agency", "status", "authentic", "reason"):
        table.add_column(col)
    with register.reading() as session:
        for row in Register.listing(session, status.upper() if status else None):
            table.add_row(
                str(row.id),
                (row.request_id or "")[:8],
                row.agency or "",
                row.status,
                "yes" if row.authentic else "NO",
                row.reason_code or "",
            )
    console.print(table)


@platform_app.command("show")
def show(ref: Ref) -> None:
    """One request in full (as JSON): what was asked, the checks' verdict, the audit."""
    from consumers.platform.store import Register, StoreError, utcnow
    from consumers.platform.web import summary

    register = _register(load_settings())
    with register.reading() as session:
        try:
            row = Register.find(session, ref)
        except StoreError as exc:
            _fail(str(exc))
            return
        found = summary(row, utcnow())
        found["request"] = row.content
        found["problems"] = row.problems
        found["audit"] = [
            {"at": a.at.isoformat(), "actor": a.actor, "action": a.action, "detail": a.detail}
            for a in Register.audit(session, row.id)
        ]
    typer.echo(json.dumps(found, ensure_ascii=False, indent=2))


@platform_app.command("answer")
def answer(
    ref: Ref,
    outcome: Annotated[str, typer.Option(help="removed, partly-removed, refused or needs-info")],
    officer: Annotated[str, typer.Option(help="Name of the officer answering (kept in the audit)")],
    reason: Annotated[str | None, typer.Option(help="Why refused, or what information is needed")] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(help="TARGET_ID=REMOVED|NOT_REMOVED|NOT_FOUND (repeat; partly-removed)"),
    ] = None,
) -> None:
    """Answer a pending request; the running service publishes the signed answer."""
    from consumers.platform.answers import AnswerError, AnswerSigner, answer_request, parse_outcome

    settings = load_settings()
    register = _register(settings)
    states: dict[str, str] = {}
    for item in target or []:
        target_id, sep, state = item.partition("=")
        if not sep or not target_id.strip():
            _fail(f"--target: expected TARGET_ID=STATE such as 1=REMOVED, found {item!r}")
        states[target_id.strip()] = state
    try:
        signer = AnswerSigner.from_keys_dir(settings.resolved_keys_dir, settings.platform)
        number, event_id = answer_request(
            register,
            signer,
            ref,
            outcome=parse_outcome(outcome),
            officer=officer,
            reason=reason,
            targets=states,
        )
    except (AnswerError, ValueError) as exc:
        _fail(str(exc))
        return
    console.print(
        f"request #{number} answered {outcome}; answer {event_id} waits in the outbox", highlight=False
    )


@platform_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="JSON Lines file of deliveries (the forwarder's)")],
) -> None:
    """Record every delivery in a JSON Lines file (redeliveries change nothing); print the verdicts."""
    from agencybus import signing
    from consumers.platform.answers import AnswerSigner
    from consumers.platform.intake import Intake
    from consumers.platform.service import JsonlInbox, policy_from_settings

    settings = load_settings()
    register = _register(settings)
    policy = policy_from_settings(settings)
    intake = Intake(
        register,
        policy,
        signing.Keyring.load(settings.resolved_keys_dir),
        AnswerSigner.from_keys_dir(settings.resolved_keys_dir, policy.platform),
    )
    if not path.exists():
        _fail(f"{path} does not exist")
    count = JsonlInbox(path, intake).read_new()
    console.print(f"{count} deliveries read from {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``platform`` verb group to the main app."""
    app.add_typer(platform_app, name="platform")
