"""The demo of the bus: the whole bus on one laptop (``run_bus``), or the quick check (``run_demo``).

``run_demo`` (``agencybus demo --quick``): broker up, topics created, one event of every type
published and read back. ``run_bus`` (``agencybus demo``): the embedded broker, then every role
as its own process through the agencybus CLI (processors, State Bank service, dashboard,
simulator), demo logins, a live summary read from the dashboard's JSON, and a clean stop.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agencybus.broker import EmbeddedBroker, die_with_parent, free_port
from agencybus.cluster import KafkaCluster
from agencybus.kafka import ensure_topics, make_consumer, make_producer
from agencybus.logging import mask_text
from agencybus.settings import ENV_PREFIX, Settings
from agencybus.signing import generate_keypair
from schemas import topics as topic_catalog
from schemas.codec import CodecError, DecodedMessage, decode_message, encode_event
from schemas.examples import example_events
from schemas.identity import primary_token
from schemas.models import BaseEvent

Output = Callable[[str], None]


@dataclass(frozen=True)
class Published:
    """Where one event went: topic, key, partition, offset."""

    event_id: str
    record_name: str
    topic: str
    key: bytes
    partition: int
    offset: int


@dataclass
class DemoResult:
    bootstrap_servers: str
    published: list[Published] = field(default_factory=list)
    decoded: list[DecodedMessage] = field(default_factory=list)
    group_join_s: float = 0.0


def record_key(event: BaseEvent) -> bytes:
    """The Kafka key of an event: the seller's primary token, else the request or case it belongs to."""
    seller = getattr(event, "seller", None)
    if seller is not None:
        return primary_token(seller).encode()
    for name in ("request_id", "case_id"):
        value = getattr(event, name, None)
        if value:
            return str(value).encode()
    return str(event.header.event_id).encode()


def publish_events(settings: Settings, events: Sequence[BaseEvent]) -> list[Published]:
    """Encode each event with the codec (Avro single-object + CloudEvents headers) and publish it."""
    producer = make_producer(settings)
    try:
        sent = []
        for event in events:
            encoded = encode_event(event)
            topic = topic_catalog.topic_for(encoded.event_type.key, event.header.agency).name
            key = record_key(event)
            future = producer.send(topic, key=key, value=encoded.value, headers=encoded.headers)
            sent.append((event, encoded, topic, key, future))
        producer.flush()
        return [
            Published(
                str(ev.header.event_id), enc.event_type.record_name, topic, key, md.partition, md.offset
            )
            for ev, enc, topic, key, fut in sent
            for md in [fut.get(timeout=30)]
        ]
    finally:
        producer.close()


def read_back(
    settings: Settings, published: Sequence[Published], timeout_s: float = 30.0
) -> tuple[list[DecodedMessage], float]:
    """Consume the events' topics in a fresh consumer group until every published event_id is decoded.

    Returns the decoded messages in publishing order and the seconds until the first record arrived
    (the consumer-group join).
    """
    wanted = {p.event_id for p in published}
    topics = sorted({p.topic for p in published})
    consumer = make_consumer(settings, *topics, group_id=f"agencybus-demo-{uuid.uuid4().hex[:8]}")
    found: dict[str, DecodedMessage] = {}
    started = time.monotonic()
    first_at: float | None = None
    try:
        while wanted - found.keys():
            if time.monotonic() - started > timeout_s:
                missing = sorted(wanted - found.keys())
                raise TimeoutError(
                    f"read back {len(found)} of {len(wanted)} events in {timeout_s:.0f} s; missing {missing}"
                )
            for records in consumer.poll(timeout_ms=1000).values():  # see agencybus.kafka.make_consumer
                if first_at is None and records:
                    first_at = time.monotonic() - started
                for record in records:
                    try:
                        message = decode_message(record.value, record.headers)
                    except CodecError:
                        continue  # somebody else's bad record on a shared broker: not one of ours
                    if message.event_id in wanted:
                        found[message.event_id] = message
        consumer.commit()
    finally:
        consumer.close()
    return [found[p.event_id] for p in published], first_at or 0.0


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):  # e.g. a rule hit: its id says enough on one line
        name = value.get("rule_id") or value.get("name") or next(iter(value.values()), "")
        return _short(name)
    return str(value)


def describe(message: DecodedMessage, key: bytes | None = None) -> str:
    """One line per event: type, event_id, agency, Kafka key and the fields that say what it is about."""
    header = message.record["header"]
    parts = [
        f"{message.event_type.record_name:<26}",
        f"event_id={message.event_id}",
        f"agency={header['agency']}",
    ]
    if key is not None:
        parts.append(f"key={key.decode(errors='replace')}")
    for name in message.event_type.key_fields:  # what tells an officer what it is about
        if message.record.get(name) not in (None, [], ""):
            parts.append(f"{name}={_short(message.record[name])}")
    return mask_text(" ".join(parts))


def run_demo(settings: Settings, out: Output = print, *, embedded: bool = True) -> DemoResult:
    """Start the embedded broker (unless not ``embedded``), create topics, publish, read back, stop."""
    broker = EmbeddedBroker(log_dir=settings.data_dir) if embedded else None
    try:
        if broker is not None:
            broker.start()
            settings = settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
            out(f"embedded broker (Tansu) on {broker.bootstrap_servers}")
        topics = ensure_topics(settings)
        out(f"topics: {len(topics.created)} created, {len(topics.existing)} existing")
        events = example_events(fresh_ids=True)
        published = publish_events(settings, events)
        for p in published:
            out(f"published {p.record_name:<26} -> {p.topic} [partition {p.partition}, offset {p.offset}]")
        decoded, join_s = read_back(settings, published)
        out(f"read back {len(decoded)} events (consumer group joined, first record after {join_s:.2f} s):")
        for message, p in zip(decoded, published, strict=True):
            out("  " + describe(message, p.key))
        return DemoResult(settings.bootstrap_servers, published, decoded, join_s)
    finally:
        if broker is not None:
            broker.stop()
            out("embedded broker stopped")


# --------------------------------------------------------------------------- the whole bus
#
# ``agencybus demo`` (H7): every role as its own process, started through the agencybus CLI
# (this package never imports a role), each in its own process group with its own data dir
# under a fresh demo directory. Ctrl-C / SIGTERM stops them all, newest first.

DEMO_PASSWORD_BYTES = 9
PROCESS_STOP_TIMEOUT_S = 15.0


@dataclass
class RoleProcess:
    """One role of the bus running as a child process (its own session, so its own process group)."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class BusDemo:
    """What ``run_bus`` started: where to look, who may log in, which processes run."""

    demo_dir: Path
    bootstrap_servers: str
    dashboard_url: str
    logins: list[tuple[str, str, str]]  # (username, agency, password)
    roles: list[RoleProcess] = field(default_factory=list)
    first_case_after_s: float | None = None
    missing_verbs: list[str] = field(default_factory=list)


def agencybus_command() -> list[str]:
    """How to run the agencybus CLI in a child (the console script next to this interpreter)."""
    script = Path(sys.executable).with_name("agencybus")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "agencybus.cli.main"]


def _role_env(
    settings: Settings, bootstrap: str, data_dir: Path, keys_dir: Path, **extra: str
) -> dict[str, str]:
    """The child's environment: the parent's, minus AGENCYBUS_* it would inherit, plus this role's values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(
        {
            f"{ENV_PREFIX}BOOTSTRAP_SERVERS": bootstrap,
            f"{ENV_PREFIX}DATA_DIR": str(data_dir),
            f"{ENV_PREFIX}KEYS_DIR": str(keys_dir),
            f"{ENV_PREFIX}PROVINCE_CODE": settings.province_code,
            f"{ENV_PREFIX}BANK_BRANCH": settings.bank_branch,
            f"{ENV_PREFIX}LOG_FORMAT": "json",
            f"{ENV_PREFIX}METRICS_PORT": "0",
        }
    )
    env.update(extra)
    return env


# What another terminal exports to use the CLI against this demo, per hat it wears: the bank
# officer (`agencybus bank ...` on the service's own ledger) or an agency (`publish`, `subscribe`).
CLI_ROLES = {
    "bank": ("the bank officer", "agencybus bank pending, show, execute …"),
    "agency": ("an agency", "agencybus publish, subscribe"),
    "platform": ("Shopee's compliance officer", "agencybus platform pending, show, answer …"),
}
DEMO_PLATFORM = "SHOPEE"  # the simulator's takedown requests go to Shopee


def cli_environments(settings: Settings, bootstrap: str, demo_dir: Path) -> dict[str, dict[str, str]]:
    """The ``AGENCYBUS_*`` values another terminal needs, per CLI role: the broker, the demo's keys
    (the bank's replies must be signed with the key the dashboard trusts), the province and branch
    the roles run with, and a data directory (the bank's is the running service's: its ledger)."""
    common = {
        f"{ENV_PREFIX}BOOTSTRAP_SERVERS": bootstrap,
        f"{ENV_PREFIX}KEYS_DIR": str(demo_dir / "keys"),
        f"{ENV_PREFIX}PROVINCE_CODE": settings.province_code,
        f"{ENV_PREFIX}BANK_BRANCH": settings.bank_branch,
    }
    own = {"platform": {f"{ENV_PREFIX}PLATFORM": DEMO_PLATFORM}}
    return {
        role: {**common, **own.get(role, {}), f"{ENV_PREFIX}DATA_DIR": str(demo_dir / role)}
        for role in CLI_ROLES
    }


def export_line(env: dict[str, str]) -> str:
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())


def write_env_files(environments: dict[str, dict[str, str]], demo_dir: Path) -> dict[str, Path]:
    """``<demo>/bank.env`` and ``<demo>/agency.env``: ``source`` one in another terminal."""
    files = {}
    for role, env in environments.items():
        path = demo_dir / f"{role}.env"
        who, verbs = CLI_ROLES[role]
        lines = [
            f"# agencybus demo: the CLI as {who} ({verbs})",
            *(f"export {k}={shlex.quote(v)}" for k, v in env.items()),
        ]
        path.unlink(missing_ok=True)
        path.touch(mode=0o600)  # it may hold the Kafka password
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[role] = path
    return files


def cli_instructions(environments: dict[str, dict[str, str]], files: dict[str, Path]) -> list[str]:
    """What the demo prints so `agencybus publish`, `bank …` and `subscribe` reach it."""
    lines = ["to use the CLI against this demo from another terminal, paste one of:"]
    for role, env in environments.items():
        who, verbs = CLI_ROLES[role]
        lines += [f"  # as {who} ({verbs}), or `source {files[role]}`", f"  {export_line(env)}"]
    return lines


def _port_or_free(preferred: int) -> int:
    """The configured port if it is free now, else any free one (a second demo must not collide)."""
    import socket

    if preferred == 0:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def verb_exists(argv_prefix: list[str], verb: list[str], env: dict[str, str]) -> bool:
    """True when ``agencybus <verb> --help`` succeeds (a role's verb may not be installed)."""
    result = subprocess.run(
        [*argv_prefix, *verb, "--help"], env=env, capture_output=True, timeout=120, check=False
    )
    return result.returncode == 0


def start_role(name: str, argv: list[str], env: dict[str, str], log: Path) -> RoleProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopping it stops its children too
            preexec_fn=die_with_parent(),  # a killed demo (SIGKILL) still takes its roles down
        )
    return RoleProcess(name, argv, log, process)


def stop_roles(roles: Sequence[RoleProcess], timeout_s: float = PROCESS_STOP_TIMEOUT_S) -> None:
    """SIGTERM every role's process group (newest first), wait, then SIGKILL what is left."""
    for role in reversed(roles):
        if role.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(role.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for role in reversed(roles):
        remaining = max(0.1, deadline - time.monotonic())
        try:
            role.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(role.process.pid, signal.SIGKILL)
            role.process.wait(timeout=5)
        # children the role left in its group (e.g. a worker's helpers)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(role.process.pid, signal.SIGKILL)


def fetch_summary(url: str) -> dict[str, Any] | None:
    """The dashboard's aggregate counts (GET /api/summary), or None while it is not answering."""
    import httpx

    try:
        response = httpx.get(f"{url}/api/summary", timeout=2)
        return dict(response.json()) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def summary_line(summary: dict[str, Any] | None, elapsed_s: float, roles: Sequence[RoleProcess]) -> str:
    running = sum(1 for r in roles if r.alive())
    if summary is None:
        counts = "dashboard starting…"
    else:
        counts = (
            f"events {summary.get('events', 0):>7,} | cases open {summary.get('cases_open', 0):>4} "
            f"(total {summary.get('cases_total', 0)}) | blocks pending {summary.get('blocks_pending', 0):>3} "
            f"(overdue {summary.get('blocks_overdue', 0)}) | takedowns open "
            f"{summary.get('takedowns_open', 0)} (overdue {summary.get('takedowns_overdue', 0)})"
        )
    return f"[{elapsed_s:6.0f} s] {counts} | processes {running}/{len(roles)}"


def run_bus(
    settings: Settings,
    out: Output = print,
    status: Output | None = None,
    *,
    duration_s: float | None = None,
    rate: float = 50.0,
    sellers: int = 500,
    sim_seconds: float = 120.0,
    stop: threading.Event | None = None,
    kafka: bool = False,
) -> BusDemo:
    """Run the whole bus until ``stop`` is set, ``duration_s`` passes, or Ctrl-C / SIGTERM.

    ``status`` receives the one-line summary about once a second (the CLI rewrites one terminal line).
    ``kafka``: on the local 3-node Apache Kafka cluster (``<data_dir>/cluster``, SASL_SSL, kept
    between runs) instead of the embedded broker.
    """
    stop = stop or threading.Event()
    demo_dir = (settings.data_dir / "demo").resolve()
    if demo_dir.exists():
        shutil.rmtree(demo_dir)  # a second run starts clean (the embedded broker is memory-only anyway)
    demo_dir.mkdir(parents=True)
    keys_dir = demo_dir / "keys"
    broker: EmbeddedBroker | KafkaCluster
    if kafka:
        broker = KafkaCluster((settings.data_dir / "cluster").resolve())
    else:
        broker = EmbeddedBroker(log_dir=demo_dir / "broker")
    roles: list[RoleProcess] = []
    team_stop = threading.Event()  # the stand-in compliance team's thread
    cli = agencybus_command()
    started = time.monotonic()
    try:
        if isinstance(broker, KafkaCluster):
            out("starting the local Apache Kafka cluster (3 nodes, SASL_SSL + SCRAM; about a minute)")
        broker.start()
        bootstrap = broker.bootstrap_servers
        if isinstance(broker, KafkaCluster):
            bus_settings = broker.settings()
            broker_env = bus_settings.kafka_env()
            out(f"Apache Kafka cluster on {bootstrap} (data kept in {broker.directory})")
        else:
            bus_settings = settings.model_copy(update={"bootstrap_servers": bootstrap})
            broker_env = {}
            out(f"embedded broker (Tansu) on {bootstrap}")
        topic_result = ensure_topics(bus_settings)
        out(f"topics: {len(topic_result.created)} created")

        signers = sorted({*settings.bank_allowed_agencies, settings.bank_branch, "NHNN", DEMO_PLATFORM})
        for signer in signers:
            generate_keypair(signer, keys_dir)
        out(f"signing keys (Ed25519) for {', '.join(signers)} in {keys_dir}")

        dashboard_port = _port_or_free(settings.dashboard_port)
        bank_port = _port_or_free(settings.bank_web_port)
        platform_port = _port_or_free(settings.platform_port)
        platform_token = secrets.token_urlsafe(24)
        platform_url = f"http://127.0.0.1:{platform_port}"
        envs = {
            name: _role_env(settings, bootstrap, demo_dir / name, keys_dir, **broker_env)
            for name in ("processors", "bank", "dashboard", "simulator", "platform", "forwarder")
        }
        envs["platform"].update(
            {
                f"{ENV_PREFIX}PLATFORM": DEMO_PLATFORM,
                f"{ENV_PREFIX}PLATFORM_PORT": str(platform_port),
                f"{ENV_PREFIX}PLATFORM_API_TOKEN": platform_token,
            }
        )
        envs["forwarder"]["PLATFORM_TOKEN"] = platform_token
        envs["processors"][f"{ENV_PREFIX}PROCESSOR_WEB_PORT"] = str(free_port())
        envs["bank"][f"{ENV_PREFIX}BANK_WEB_PORT"] = str(bank_port)
        envs["dashboard"][f"{ENV_PREFIX}DASHBOARD_PORT"] = str(dashboard_port)
        # served over http://127.0.0.1: a Secure session cookie would not come back over plain HTTP
        envs["dashboard"][f"{ENV_PREFIX}DASHBOARD_SECURE_COOKIES"] = "false"

        webhook = f"{platform_url}/takedown-requests"
        plan = [
            ("processors", ["process", "--app-id", "agencybus-processors-demo"]),
            ("bank", ["bank", "serve"]),
            ("dashboard", ["dashboard"]),
            ("platform", ["platform", "serve"]),
            (
                "forwarder",
                [
                    "subscribe",
                    "--platform",
                    DEMO_PLATFORM,
                    "--webhook",
                    webhook,
                    "--token-env",
                    "PLATFORM_TOKEN",
                ],
            ),
        ]
        missing: list[str] = []
        available = []
        for name, verb in [*plan, ("simulator", ["simulate"])]:
            if verb_exists(cli, verb[:2] if name in ("bank", "platform") else [verb[0]], envs[name]):
                available.append(name)
            else:
                missing.append(f"agencybus {' '.join(verb)}")
        if missing:
            out(f"not installed in this build, skipped: {', '.join(missing)}")

        logins: list[tuple[str, str, str]] = []
        if "dashboard" in available:
            for username, agency, display in DEMO_USERS:
                password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
                subprocess.run(
                    [
                        *cli,
                        "dashboard",
                        "add-user",
                        username,
                        "--agency",
                        agency,
                        "--name",
                        display,
                        "--password-stdin",
                    ],
                    input=f"{password}\n".encode(),
                    env=envs["dashboard"],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                logins.append((username, agency, password))
        if "bank" in available:
            password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
            result = subprocess.run(
                [*cli, "bank", "add-user", "nhnn.officer", "--name", "Cán bộ NHNN", "--password", password],
                env=envs["bank"],
                capture_output=True,
                timeout=120,
                check=False,
            )
            if result.returncode == 0:
                logins.append(("nhnn.officer", settings.bank_branch, password))

        for name, verb in plan:
            if name in available:
                roles.append(start_role(name, [*cli, *verb], envs[name], demo_dir / "logs" / f"{name}.log"))
                out(f"started {name:<10} pid {roles[-1].process.pid}: agencybus {' '.join(verb)}")
        url = f"http://127.0.0.1:{dashboard_port}"
        demo = BusDemo(demo_dir, bootstrap, url, logins, roles, missing_verbs=missing)
        if "dashboard" in available:
            _wait_for_dashboard(url, roles, stop)
        if "platform" in available:
            from demo.platform_team import ComplianceTeam

            team = ComplianceTeam(platform_url, platform_token)
            threading.Thread(target=team.run, args=(team_stop,), name="compliance-team", daemon=True).start()
        seed = int(time.time()) % 100_000
        if "simulator" in available:
            roles.append(_start_simulator(cli, envs["simulator"], demo_dir, rate, sim_seconds, sellers, seed))
            verb_text = " ".join(roles[-1].argv[len(cli) :])
            out(f"started simulator  pid {roles[-1].process.pid}: agencybus {verb_text}")

        out("")
        out(f"dashboard: {url}/")
        if "platform" in available:
            out(
                f"platform service ({DEMO_PLATFORM} compliance): {platform_url}/takedown-requests "
                f"(Authorization: Bearer {platform_token}); a stand-in team answers, some late, some never"
            )
        for username, agency, password in logins:
            where = "bank page" if agency == settings.bank_branch else "dashboard"
            bank_url = f" (http://127.0.0.1:{bank_port}/)" if where == "bank page" else ""
            out(f"  {where:<9} login {username:<14} password {password:<14} ({agency}){bank_url}")
        environments = {
            role: {**env, **broker_env}
            for role, env in cli_environments(settings, bootstrap, demo_dir).items()
        }
        files = write_env_files(environments, demo_dir)
        secret = f"{ENV_PREFIX}SASL_PASSWORD"
        shown = {role: {k: v for k, v in env.items() if k != secret} for role, env in environments.items()}
        for line in cli_instructions(shown, files):
            out(line)
        if broker_env:
            out(f"  (the Kafka password is only in those files, readable by you alone: {secret})")
        out(f"logs: {demo_dir / 'logs'}    stop: Ctrl-C")
        out("")

        reported_dead: set[str] = set()
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if duration_s is not None and elapsed >= duration_s:
                break
            summary = fetch_summary(url) if "dashboard" in available else None
            if summary and summary.get("cases_total", 0) > 0 and demo.first_case_after_s is None:
                demo.first_case_after_s = elapsed
                out(f"first joint case on the dashboard after {elapsed:.1f} s")
            for role in roles:
                if not role.alive() and role.name not in reported_dead:
                    reported_dead.add(role.name)
                    if role.name == "simulator" and role.process.returncode == 0:
                        # a new seed, new sellers and new event ids: the traffic goes on
                        seed += 1
                        roles.remove(role)
                        roles.append(
                            _start_simulator(
                                cli, envs["simulator"], demo_dir, rate, sim_seconds, sellers, seed
                            )
                        )
                        reported_dead.discard("simulator")
                        break
                    else:
                        code = role.process.returncode
                        out(f"{role.name} exited with code {code}; last log lines:\n{role.log_tail()}")
            if status is not None:
                status(summary_line(summary, elapsed, roles))
            stop.wait(1.0)
        return demo
    finally:
        team_stop.set()
        stop_roles(roles)
        broker.stop()
        out(f"stopped {len(roles)} processes and the {'Kafka cluster' if kafka else 'embedded broker'}")


DEMO_USERS = (
    ("bcd.chair", "BCD389", "Trưởng ban Chỉ đạo 389"),
    ("qltt.officer", "QLTT", "Cán bộ Quản lý thị trường"),
    ("thue.officer", "THUE", "Cán bộ Thuế tỉnh"),
)


def _wait_for_dashboard(
    url: str, roles: Sequence[RoleProcess], stop: threading.Event, timeout_s: float = 60
) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if any(r.name == "dashboard" and not r.alive() for r in roles):
            return
        stop.wait(0.3)


def _start_simulator(
    cli: list[str], env: dict[str, str], demo_dir: Path, rate: float, seconds: float, sellers: int, seed: int
) -> RoleProcess:
    """One simulator run: ``rate × seconds`` events over the last 60 days, planted cases included."""
    start = datetime.now(UTC) - timedelta(days=61)
    verb = [
        "simulate",
        "--rate",
        f"{rate:g}",
        "--duration",
        f"{seconds:g}",
        "--sellers",
        str(sellers),
        "--seed",
        str(seed),
        "--start",
        start.strftime("%Y-%m-%dT%H:%M:%S"),
    ]
    return start_role("simulator", [*cli, *verb], env, demo_dir / "logs" / "simulator.log")
