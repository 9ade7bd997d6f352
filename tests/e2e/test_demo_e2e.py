"""`agencybus demo` brings the whole bus up, a first joint case shows within a minute, Ctrl-C leaves nothing.

Runs the real command in its own session (its own embedded broker, processors, State Bank
service, dashboard and simulator), reads its output until the first joint case is reported,
then uses the environment lines it printed from "another terminal" (an agency publishes a
payment-block request and subscribes to its alerts, the bank officer lists and executes it),
then sends SIGINT as a terminal's Ctrl-C would and checks that no process of it is left.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.browser.dashboard_process import AGENCYBUS
from tests.helpers import descendant_pids

pytestmark = [pytest.mark.slow]

FIRST_CASE_RE = re.compile(r"first joint case on the dashboard after ([0-9.]+) s")
URL_RE = re.compile(r"dashboard: (http://127\.0\.0\.1:\d+)/")
EXPORT_RE = re.compile(
    r"^  (export AGENCYBUS_\S+.*AGENCYBUS_DATA_DIR=\S+/demo/(bank|agency|platform)\S*)$", re.MULTILINE
)
SAMPLES = Path(__file__).resolve().parents[2] / "producers" / "samples"


def in_terminal(export: str, *argv: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run ``agencybus ARGV`` in a shell that has pasted the demo's export line (and nothing else)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    env["COLUMNS"] = "250"  # a wide terminal: table cells are not cut
    command = " ".join([AGENCYBUS, *(f"'{a}'" for a in argv)])
    return subprocess.run(
        ["bash", "-c", f"{export} && exec {command}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fresh_block_request(path: Path) -> str:
    """The shipped payment-block sample with a decision number of its own and dates around now."""
    with (SAMPLES / "payment-block-requests.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    row = rows[0]
    now = datetime.now(UTC)
    decision = f"E2E-{now:%H%M%S}/QĐ-PC03"
    row.update(
        {
            "header.source_record_id": f"CA-E2E-{now:%H%M%S}",
            "header.occurred_at": now.isoformat(timespec="seconds"),
            "legal_basis.decision_number": decision,
            "legal_basis.decision_date": (now - timedelta(days=1)).date().isoformat(),
            "valid_from": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
            "valid_until": (now + timedelta(days=30)).isoformat(timespec="seconds"),
        }
    )
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    return decision


def use_the_printed_environment(output: str, tmp_path: Path) -> None:
    exports = {role: line for line, role in EXPORT_RE.findall(output)}
    assert set(exports) == {"bank", "agency", "platform"}, output[-3000:]
    demo_dir = tmp_path / "demo"
    written = (demo_dir / "bank.env").read_text(encoding="utf-8").splitlines()[1:]  # under its comment
    assert " ".join(line.removeprefix("export ") for line in written) == exports["bank"].removeprefix(
        "export "
    )

    requests = tmp_path / "block.csv"
    decision = fresh_block_request(requests)
    published = in_terminal(
        exports["agency"],
        "publish",
        str(requests),
        "--agency",
        "CA",
        "--type",
        "payment-block-request",
        "--no-progress",
    )
    assert published.returncode == 0, published.stdout + published.stderr
    assert re.search(r"^published: +1$", published.stdout, re.MULTILINE), published.stdout

    deadline = time.monotonic() + 60
    listing = ""
    while time.monotonic() < deadline:
        listing = in_terminal(exports["bank"], "bank", "pending").stdout
        if decision in listing:
            break
        time.sleep(1)
    assert decision in listing, listing
    assert f"ledger {demo_dir / 'bank' / 'state_bank.db'}" in listing
    number = next(line.split("│")[1].strip() for line in listing.splitlines() if decision in line)
    shown = in_terminal(exports["bank"], "bank", "show", number)
    assert shown.returncode == 0 and "holder NGUYEN DUC MANH" in shown.stdout, shown.stdout
    executed = in_terminal(exports["bank"], "bank", "execute", number, "--officer", "Cán bộ NHNN")
    assert executed.returncode == 0 and "EXECUTED" in executed.stdout, executed.stdout + executed.stderr
    listed = in_terminal(exports["platform"], "platform", "list")
    assert listed.returncode == 0 and "Takedown requests" in listed.stdout, listed.stdout + listed.stderr

    alerts = tmp_path / "qltt-alerts.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYBUS_")}
    subscriber = subprocess.Popen(
        ["bash", "-c", f"{exports['agency']} && exec {AGENCYBUS} subscribe --agency QLTT --jsonl {alerts}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (alerts.exists() and alerts.stat().st_size > 0):
            time.sleep(0.5)
    finally:
        os.killpg(subscriber.pid, signal.SIGTERM)
        subscriber.wait(timeout=30)
    assert alerts.exists() and alerts.read_text(encoding="utf-8").strip(), (
        "no alert reached QLTT's subscriber"
    )


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
    env.update(
        AGENCYBUS_DATA_DIR=str(tmp_path),
        AGENCYBUS_DASHBOARD_PORT="0",
        AGENCYBUS_BANK_WEB_PORT="0",
        AGENCYBUS_PLATFORM_PORT="0",
    )
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
        assert re.search(
            r"platform service \(SHOPEE compliance\): http://127\.0\.0\.1:\d+/takedown-requests", output
        )
        use_the_printed_environment(output, tmp_path)
        # how soon the first case appears is a performance figure (benchmarks/README.md), not
        # a test: the target of a minute holds on a quiet machine, not under a loaded CI run
        print(f"demo: first joint case {first_case} s after start")
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
