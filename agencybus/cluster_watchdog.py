"""Stops a local Kafka cluster's JVMs when the process that started them dies.

PR_SET_PDEATHSIG covers a JVM started from the main thread; this watchdog covers every
other case (a node restarted from a helper thread, an owner killed with -9 before its
atexit ran). Run as ``python -m agencybus.cluster_watchdog OWNER_PID CLUSTER_DIR``; only
the standard library is imported, so it costs a few MB.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

POLL_S = 0.5
GRACE_S = 15.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cluster_pids(directory: Path) -> list[int]:
    """Pids in the nodes' pid files whose command line names this cluster (never a reused pid)."""
    found = []
    marker = f"-Dagencybus.cluster={directory}".encode()
    for pid_file in directory.glob("node-*/pid"):
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if marker in cmdline.split(b"\0"):
            found.append(pid)
    return found


def stop_pids(pids: list[int], grace_s: float = GRACE_S) -> None:
    """SIGTERM, then SIGKILL whatever is still running after ``grace_s``."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)


def watch(owner: int, directory: Path) -> None:
    while _alive(owner) and os.getppid() == owner:
        time.sleep(POLL_S)
    stop_pids(cluster_pids(directory))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the owner's to handle
    watch(int(sys.argv[1]), Path(sys.argv[2]))
