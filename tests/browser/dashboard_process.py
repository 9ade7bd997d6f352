"""Runs ``agencybus dashboard`` as a real subprocess for browser and end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from agencybus.broker import free_port

AGENCYBUS = str(Path(sys.executable).with_name("agencybus"))
PASSWORD = "demo-password-389"
USERS = (
    ("bcd.chair", "BCD389", "Trưởng ban BCĐ 389"),
    ("thue.officer", "THUE", "Cán bộ Thuế tỉnh"),
    ("syt.officer", "SYT", "Cán bộ Sở Y tế"),
)


@dataclass
class Dashboard:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def summary(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/api/summary", timeout=5).json())


def dashboard_env(
    bootstrap: str, data_dir: Path, port: int, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The dashboard's environment; ``extra_env`` adds e.g. a Kafka cluster's security settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env.update(
        AGENCYBUS_BOOTSTRAP_SERVERS=bootstrap,
        AGENCYBUS_DATA_DIR=str(data_dir),
        AGENCYBUS_DASHBOARD_PORT=str(port),
        AGENCYBUS_LOG_FORMAT="json",
        AGENCYBUS_METRICS_PORT="0",
        # served over http://127.0.0.1 as the demo is: a Secure cookie would not come back over HTTP
        AGENCYBUS_DASHBOARD_SECURE_COOKIES="false",
    )
    env.update(extra_env or {})
    return env


@contextmanager
def running_dashboard(
    bootstrap: str,
    data_dir: Path,
    *,
    startup_timeout: float = 30,
    extra_env: dict[str, str] | None = None,
    users: Sequence[tuple[str, str, str]] = USERS,
) -> Iterator[Dashboard]:
    """Create the demo users, start the dashboard, wait until it answers; stop its process group after."""
    port = free_port()
    env = dashboard_env(bootstrap, data_dir, port, extra_env)
    for username, agency, name in users:
        subprocess.run(
            [
                AGENCYBUS,
                "dashboard",
                "add-user",
                username,
                "--agency",
                agency,
                "--name",
                name,
                "--password-stdin",
            ],
            input=f"{PASSWORD}\n".encode(),
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    log = data_dir / "dashboard.log"
    with open(log, "wb") as fh:
        process = subprocess.Popen(
            [AGENCYBUS, "dashboard"], env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"dashboard exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"dashboard not up within {startup_timeout} s: {log.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield Dashboard(url=url, data_dir=data_dir, env=env, process=process, log=log)
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
