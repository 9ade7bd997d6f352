"""``agencybus demo``: the whole bus on one laptop — broker, processors, State Bank, dashboard, traffic.

``--quick`` keeps the first-stage demo: publish one event of every type and read it back. Registered
through the ``agencybus.commands`` entry point like every role's verbs.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType
from typing import Annotated

import typer

from agencybus.cli.common import console, fail, settings_or_exit


class _StatusLine:
    """Rewrites one terminal line (a pipe gets a line every ``every_s`` seconds instead)."""

    def __init__(self, every_s: float = 15.0) -> None:
        self.tty = sys.stdout.isatty()
        self.every_s = every_s
        self.last = 0.0
        self.dirty = False

    def status(self, line: str) -> None:
        if self.tty:
            sys.stdout.write("\r" + line + "\x1b[K")
            sys.stdout.flush()
            self.dirty = True
        elif time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            print(line, flush=True)

    def out(self, line: str) -> None:
        if self.dirty:
            sys.stdout.write("\r\x1b[K")
            self.dirty = False
        console.print(line, highlight=False, markup=False)
        sys.stdout.flush()


def demo(
    external: Annotated[
        bool,
        typer.Option(
            "--external",
            help="Use the broker at AGENCYBUS_BOOTSTRAP_SERVERS instead of an embedded one (--quick only).",
        ),
    ] = False,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Only publish one event of every type and read them back, then stop."),
    ] = False,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration", help="Stop by itself after this many seconds (default: run until Ctrl-C)."
        ),
    ] = None,
    rate: Annotated[float, typer.Option("--rate", help="Synthetic events per second.")] = 50.0,
    sellers: Annotated[
        int, typer.Option("--sellers", help="Distinct synthetic sellers per simulator run.")
    ] = 500,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka",
            help="Run on the local 3-node Apache Kafka cluster (SASL_SSL, data kept) instead of the "
            "embedded broker; needs Java and Maven.",
        ),
    ] = False,
) -> None:
    """Run the whole bus: embedded broker, topics, processors, State Bank, dashboard, synthetic traffic.

    Prints the dashboard URL and demo logins and a live one-line summary; Ctrl-C stops every process.
    """
    settings = settings_or_exit()
    if quick:
        from demo.bus import run_demo

        try:
            result = run_demo(
                settings,
                lambda line: console.print(line, highlight=False, markup=False),
                embedded=not external,
            )
        except Exception as exc:  # the demo's last word should be the reason, not a traceback
            fail(f"demo failed: {type(exc).__name__}: {exc}")
        console.print(f"demo done: {len(result.decoded)} event types published and decoded")
        return
    if external:
        fail("--external works with --quick only: the full demo brings its own broker (see --kafka)")
    from demo.bus import run_bus

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    line = _StatusLine()
    try:
        bus = run_bus(
            settings,
            line.out,
            line.status,
            duration_s=duration,
            rate=rate,
            sellers=sellers,
            stop=stop,
            kafka=kafka,
        )
    except Exception as exc:  # processes are already stopped by run_bus; say why in one line
        fail(f"demo failed: {type(exc).__name__}: {exc}")
    if bus.missing_verbs:
        console.print(f"note: not part of this build: {', '.join(bus.missing_verbs)}")


def register(app: typer.Typer) -> None:
    """Add ``agencybus demo`` (called by the CLI through the ``agencybus.commands`` entry point)."""
    app.command("demo")(demo)
