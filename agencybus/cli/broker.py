"""``agencybus broker``: run the embedded Tansu broker in the foreground with the catalog's topics."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer
from kafka.errors import KafkaError

from agencybus.broker import BrokerError, EmbeddedBroker
from agencybus.cli.common import console, fail, settings_or_exit
from agencybus.kafka import ensure_topics
from agencybus.logging import get_logger

log = get_logger(__name__)


def _default_port(bootstrap_servers: str) -> int:
    """The port of the first bootstrap server, so other processes with the same settings find the broker."""
    return int(bootstrap_servers.split(",")[0].strip().rpartition(":")[2])


def broker(
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Port on 127.0.0.1 (default: port of AGENCYBUS_BOOTSTRAP_SERVERS, 9092; 0: a free port).",
            min=0,
            max=65535,
        ),
    ] = None,
) -> None:
    """Run the embedded broker (Tansu, memory storage: a restart starts empty) until Ctrl-C or SIGTERM."""
    settings = settings_or_exit()
    chosen = _default_port(settings.bootstrap_servers) if port is None else port
    embedded = EmbeddedBroker(port=chosen or None, log_dir=settings.data_dir)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            embedded.start()
            topics = ensure_topics(
                settings.model_copy(update={"bootstrap_servers": embedded.bootstrap_servers})
            )
        except (BrokerError, KafkaError) as exc:
            fail(str(exc))
        console.print(f"bootstrap: {embedded.bootstrap_servers}", highlight=False)
        console.print(
            f"topics: {len(topics.created)} created, {len(topics.existing)} existing; "
            f"broker log {embedded.log_path}",
            highlight=False,
        )
        console.print("storage is memory only: stopping the broker discards every record. Ctrl-C to stop.")
        if chosen != _default_port(settings.bootstrap_servers):
            console.print(f"other processes: export AGENCYBUS_BOOTSTRAP_SERVERS={embedded.bootstrap_servers}")
        log.info("broker_started", bootstrap=embedded.bootstrap_servers, pid=embedded.pid)
        while not stop.wait(0.5):
            if not embedded.running:
                fail(f"the broker exited unexpectedly; see {embedded.log_path}")
    finally:
        embedded.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("broker stopped")
