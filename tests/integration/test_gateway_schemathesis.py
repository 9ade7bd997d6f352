"""schemathesis against the gateway's own ``/openapi.json``: every check, with and without a key, 0 failures.

What an agency's generated client (or a fuzzer) sends from the document alone must get an answer
the document promises: valid bodies are accepted (202, or 403/409 where they say why), invalid ones
refused with a documented 4xx, never a 500, always in the documented shape. The run is bounded
(fixed seed, ``MAX_EXAMPLES`` per operation in the fuzzing phase; the coverage phase is as large
as the document makes it) and prints its case count.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from agencybus.broker import EmbeddedBroker
from agencybus.settings import load_settings
from agencybus.signing import generate_keypair
from producers.gateway.app import create_app
from producers.publisher import Delivery

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 5
SEED = 20251203


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(tmp_path: Path, bootstrap_servers: str, publish_timeout_s: float) -> Iterator[tuple[str, str]]:
    """The gateway on uvicorn at 127.0.0.1 (real HTTP, as a client meets it); (base URL, CA's key)."""
    config = load_settings(
        bootstrap_servers=bootstrap_servers,
        data_dir=tmp_path / "gateway",
        metrics_port=0,
        publish_timeout_s=publish_timeout_s,
        gateway_rate_limit_per_minute=1_000_000,
        gateway_max_body_bytes=4 * 1024 * 1024,
    )
    generate_keypair("CA", config.resolved_keys_dir)  # CA may publish every type, signed ones too
    app = create_app(config, delivery=Delivery(config, "gateway", start_flusher=False))
    key = app.state.gateway.keys.add("CA")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="gateway-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def served(tmp_path: Path, clean_env: None) -> Iterator[tuple[str, str]]:
    """The gateway with its broker down, so what it accepts waits in its outbox (``queued``).

    The main run checks the HTTP contract, not Kafka round trips, which made it several times
    slower; the run against a broker (below) covers the routes' delivered answers and ``/readyz``.
    """
    with _serving(tmp_path, f"127.0.0.1:{_free_port()}", 0.5) as served:  # nothing listens there
        yield served


@pytest.fixture
def served_on_broker(broker: EmbeddedBroker, tmp_path: Path, clean_env: None) -> Iterator[tuple[str, str]]:
    """The gateway in front of the embedded broker: accepted events are delivered, ``/readyz`` is 200."""
    with _serving(tmp_path, broker.bootstrap_servers, 10.0) as served:
        yield served


def _run(
    base: str,
    tmp_path: Path,
    name: str,
    phases: str,
    examples: int,
    headers: list[str],
    *extra: str,
    readyz: bool = False,
) -> int:
    """One schemathesis CLI run; the test cases it generated. Fails the test on any failure."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        phases,
        "--max-examples",
        str(examples),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        # without a broker /readyz answers its documented 503, which the not_a_server_error check
        # counts: it is checked in the run against the broker
        *(() if readyz else ("--exclude-path", "/readyz")),
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / name),
        *[arg for header in headers for arg in ("--header", header)],
        *extra,
    ]
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.integration.gateway_schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    started = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=900, check=False, env=env, cwd=tmp_path
    )
    output = done.stdout + done.stderr
    print(f"--- schemathesis {name} ({time.monotonic() - started:.0f} s) ---\n{output[-12000:]}")
    counted = re.search(r"Test cases:\s*([0-9,]+) generated", output)
    assert counted is not None, output[-3000:]
    cases = int(counted.group(1).replace(",", ""))
    assert done.returncode == 0, f"schemathesis found failures ({name}):\n{output[-6000:]}"
    assert re.search(r"\b[1-9][0-9]* (failures?|errors?)\b", output.split("Test cases:")[-1]) is None
    return cases


@pytest.mark.timeout(1200)  # about 2 minutes on an idle 2-core machine, 5 when it is shared
def test_schemathesis_finds_no_failure_with_and_without_a_key(
    served: tuple[str, str], tmp_path: Path
) -> None:
    """With CA's key: the coverage phase (boundaries, every enum value, each required field missing,
    wrong types, positive bodies) on the single-event routes, whose bodies are the batch routes'
    items, and fuzzing on the batch routes. Without a key: fuzzing the single-event routes, where
    every answer must be the documented 401 (the batch routes share the same dependency).

    Fuzzing costs schemathesis about ten seconds per route to set up for these schemas, so each
    route gets the phase that tells most about it.
    """
    base, key = served
    auth = [f"Authorization: Bearer {key}"]
    singles = ("--exclude-path-regex", "/batch$")
    coverage = _run(base, tmp_path, "coverage", "coverage", 1, auth, *singles)
    fuzzing = _run(
        base, tmp_path, "fuzzing", "fuzzing", MAX_EXAMPLES, auth, "--include-path-regex", "/batch$"
    )
    without_key = _run(base, tmp_path, "without-key", "fuzzing", MAX_EXAMPLES, [], *singles)
    print(
        f"schemathesis: {coverage + fuzzing} test cases with a key ({coverage} coverage, {fuzzing} fuzzing), "
        f"{without_key} without, 0 failures"
    )
    assert coverage > 1000 and fuzzing > 20 and without_key > 20


@pytest.mark.broker
@pytest.mark.timeout(900)
def test_schemathesis_finds_no_failure_against_a_broker_readiness_included(
    served_on_broker: tuple[str, str], tmp_path: Path
) -> None:
    """With the embedded broker behind it: ``/readyz`` and ``/healthz``, and one event route's coverage
    phase, where valid bodies are delivered to the broker (202 ``delivered``), not queued."""
    base, key = served_on_broker
    auth = [f"Authorization: Bearer {key}"]
    only = ("--include-path-regex", "^/(readyz|healthz|v1/events/violation)$")
    cases = _run(base, tmp_path, "with-broker", "coverage", 1, auth, *only, readyz=True)
    print(
        f"schemathesis with a broker: {cases} test cases "
        "(/readyz, /healthz, /v1/events/violation), 0 failures"
    )
    assert cases > 100
