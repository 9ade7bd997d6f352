"""Start and stop ``agencybus process`` workers as child processes (tests, benchmarks, demos).

A worker is a real process running the real command, so a test can kill -9 it and start
it again exactly as an operator's supervisor would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agencybus.broker import free_port


def _agencybus_command() -> list[str]:
    exe = Path(sys.executable).with_name("agencybus")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "agencybus.cli.main"]


@dataclass
class WorkerProcess:
    """One processors worker: its own web port, its own RocksDB directory, shared app id."""

    bootstrap_servers: str
    app_id: str
    data_dir: Path
    store: str = "memory://"
    web_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    namespace: str | None = None
    metrics_port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
        env.update(
            AGENCYBUS_BOOTSTRAP_SERVERS=self.bootstrap_servers,
            AGENCYBUS_DATA_DIR=str(self.data_dir),
            AGENCYBUS_PROCESSOR_STORE=self.store,
            AGENCYBUS_PROCESSOR_WEB_PORT=str(self.web_port),
            AGENCYBUS_METRICS_PORT=str(self.metrics_port),
            AGENCYBUS_LOG_FORMAT="json",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or self.data_dir / f"worker-{self.web_port}.log"
        self.log_path = log_path
        log = log_path.open("ab")
        command = [*_agencybus_command(), "process", "--app-id", self.app_id, "--loglevel", "warning"]
        if self.namespace:
            command += ["--namespace", self.namespace]
        self.process = subprocess.Popen(
            command,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_web(self, timeout_s: float = 30.0) -> float:
        """Seconds until the worker's web port answers (the worker has started its services)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", self.web_port)) == 0:
                    return time.monotonic() - start
            time.sleep(0.1)
        raise TimeoutError(f"worker web port {self.web_port} not up after {timeout_s} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
