"""`agencybus demo` brings the whole bus up, a first joint case shows within a minute, Ctrl-C leaves nothing.

Runs the real command in its own session (its own embedded broker, processors, State Bank
service, dashboard and simulator), reads its output until the first joint case is reported,
then sends SIGINT as a terminal's Ctrl-C would and checks that no process of it is left.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.dashboard_process import AGENCYBUS
from tests.helpers import descendant_pids

pytestmark = [pytest.mark.slow]

FIRST_CASE_RE = re.compile(r"first joint case on the dashboard after ([0-9.]+) s")
URL_RE = re.compile(r"dashboard: (http://127\.0\.0\.1:\d+)/")


def _session_pids(sid: int) -> list[int]:
    """Processes still alive in session ``sid`` (the demo and everything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append(int(entry.name))
    return found


def test_demo_runs_the_whole_bus_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env.update(AGENCYBUS_DATA_DIR=str(tmp_path), AGENCYBUS_DASHBOARD_PORT="0", AGENCYBUS_BANK_WEB_PORT="0")
    proc = subprocess.Popen(
        [AGENCYBUS, "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 150
        first_case: float | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            text = "".join(lines)
            match = FIRST_CASE_RE.search(text)
            if match:
                first_case = float(match.group(1))
                break
            time.sleep(0.5)
        output = "".join(lines)
        assert first_case is not None, f"no joint case reported; demo output:\n{output[-4000:]}"
        url = URL_RE.search(output)
        assert url is not None, output
        summary = httpx.get(f"{url.group(1)}/api/summary", timeout=5).json()
        assert summary["cases_total"] >= 1 and summary["events"] > 0
        assert "password" in output and "bcd.chair" in output
        # the first case counts from the moment the demo started, broker and processes included
        assert first_case < 60, f"first joint case after {first_case} s (target: within a minute)"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(timeout=5)
        reader.join(timeout=5)
        leftovers = _session_pids(proc.pid)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
    output = "".join(lines)
    assert code == 0, f"demo exit code {code}:\n{output[-3000:]}"
    assert any("stopped" in line for line in output.splitlines()[-3:]), output[-2000:]
    assert not leftovers, f"processes left after Ctrl-C: {leftovers}"
    assert not descendant_pids(proc.pid)
