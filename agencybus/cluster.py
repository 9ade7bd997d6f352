"""A local 3-node Apache Kafka cluster (KRaft, combined broker+controller) secured as production is.

Clients connect with SASL_SSL and SCRAM-SHA-512; brokers and controllers talk over mutual
TLS; the StandardAuthorizer refuses whatever no ACL allows; topics get RF 3 and
``min.insync.replicas=2`` and are never created automatically. The admin's SCRAM
credential is written at format time, so the cluster is secured from its first second.

The cluster lives in one directory (``cluster.json`` with its id and ports, the CA, the
nodes' stores, data and logs); starting it again reuses all of that, so topics, committed
offsets and data survive a restart of every node. JVMs started by a ``KafkaCluster`` that
is bound to its owner stop when the owner exits, is interrupted or dies (PDEATHSIG and a
watchdog process); ``agencybus cluster up`` starts an unbound one that ``down`` stops.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from kafka.admin import ScramMechanism, UserScramCredentialUpsertion
from kafka.errors import KafkaError
from pydantic import SecretStr

from agencybus.broker import _tail, die_with_parent, free_port
from agencybus.cluster_tls import ClusterCA
from agencybus.cluster_watchdog import _alive, stop_pids
from agencybus.kafka_admin import AdminClient
from agencybus.kafka_dist import classpath, java_binary, kafka_version
from agencybus.settings import Settings

ADMIN_USER = "admin"
MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 4096
DEFAULT_HEAP = "384m"
DEFAULT_START_TIMEOUT_S = 120.0
STOP_GRACE_S = 30.0

# Kafka's own kafka-server-start.sh flags, with a small heap: three JVMs share a laptop.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
)

LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


# What production must share with this cluster (deploy/kafka/compose.yaml sets the same; a unit
# test, tests/unit/test_deploy_agrees.py, keeps them equal): authorisation, durability, no auto-create.
BROKER_POLICY: dict[str, str | int] = {
    "sasl.enabled.mechanisms": MECHANISM,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "false",
    "default.replication.factor": 3,
    "min.insync.replicas": 2,
    "auto.create.topics.enable": "false",
    "unclean.leader.election.enable": "false",
    "offsets.topic.replication.factor": 3,
    "transaction.state.log.replication.factor": 3,
    "transaction.state.log.min.isr": 2,
    "share.coordinator.state.topic.replication.factor": 3,
    "share.coordinator.state.topic.min.isr": 2,
}


class ClusterError(RuntimeError):
    """The cluster could not be formatted, started or reached (the message has the log tail)."""


@dataclass
class NodePorts:
    """The three listeners of one node: clients (SASL_SSL), brokers (SSL), controllers (SSL)."""

    node_id: int
    client: int
    internal: int
    controller: int


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what kafka-storage makes)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _scram_argument(user: str, password: str) -> str:
    """``--add-scram`` value with the salted password only, so the clear password is on no command line."""
    salt = secrets.token_bytes(24)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
    b64 = base64.b64encode
    return (
        f"{MECHANISM}=[name={user},iterations={SCRAM_ITERATIONS},"
        f'salt="{b64(salt).decode()}",saltedpassword="{b64(salted).decode()}"]'
    )


class _Node:
    """One JVM of the cluster: its files, its process (ours, or found by its pid file)."""

    def __init__(self, directory: Path, ports: NodePorts) -> None:
        self.ports = ports
        self.directory = directory
        self.properties = directory / "server.properties"
        self.data = directory / "data"
        self.log_path = directory / "kafka.log"
        self.pid_file = directory / "pid"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def node_id(self) -> int:
        return self.ports.node_id

    @property
    def pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        try:  # started by another process (``agencybus cluster up``), or by us and since exited
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        marker = f"-Dagencybus.cluster={self.directory.parent}".encode()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if marker in cmdline and _alive(pid) else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class KafkaCluster:
    """Three (by default) combined KRaft nodes on 127.0.0.1 under ``directory``; a context manager."""

    def __init__(
        self,
        directory: Path,
        *,
        nodes: int = 3,
        heap: str = DEFAULT_HEAP,
        bound_to_owner: bool = True,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        quick_start: bool = False,
    ) -> None:
        self.directory = directory.resolve()
        # C1 only: a node starts in about half the CPU time, and serves tests as fast as they need;
        # benchmarks and ``agencybus cluster up`` keep the full JIT.
        self.quick_start = quick_start
        self.size = nodes
        self.heap = heap
        self.bound_to_owner = bound_to_owner
        self.start_timeout_s = start_timeout_s
        self.state_file = self.directory / "cluster.json"
        self.ca = ClusterCA(self.directory / "tls")
        self._password_file = self.directory / "admin.password"
        self._watchdog: subprocess.Popen[bytes] | None = None
        self.nodes: list[_Node] = []
        if self.state_file.exists():
            self._load_state()

    # --- state on disk ---------------------------------------------------------
    @property
    def formatted(self) -> bool:
        return self.state_file.exists()

    def _load_state(self) -> None:
        state = json.loads(self.state_file.read_text())
        self.cluster_id: str = state["cluster_id"]
        self.nodes = [_Node(self.directory / f"node-{p['node_id']}", NodePorts(**p)) for p in state["nodes"]]
        self.size = len(self.nodes)

    def _prepare(self) -> None:
        """First start only: ports, CA and node certificates, properties, storage formatted with the admin."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cluster_id = _cluster_id()
        taken: set[int] = set()

        def port() -> int:
            while (chosen := free_port()) in taken:
                pass
            taken.add(chosen)
            return chosen

        ports = [NodePorts(n, port(), port(), port()) for n in range(self.size)]
        self.nodes = [_Node(self.directory / f"node-{p.node_id}", p) for p in ports]
        _write_private(self._password_file, secrets.token_urlsafe(24))
        self.ca.ensure()
        (self.directory / "log4j2.properties").write_text(LOG4J2)
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            store = self.ca.issue(f"broker-{node.node_id}")
            node.properties.write_text(self._properties(node, store.keystore))
            self._format(node)
        state = {
            "cluster_id": self.cluster_id,
            "kafka_version": kafka_version(),
            "nodes": [asdict(n.ports) for n in self.nodes],
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    def _properties(self, node: _Node, keystore: Path) -> str:
        p = node.ports
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.ports.controller}" for n in self.nodes)
        brokers = ";".join(f"User:broker-{n.node_id}" for n in self.nodes)
        settings = {
            "process.roles": "broker,controller",
            "node.id": p.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"CLIENT://127.0.0.1:{p.client},INTERNAL://127.0.0.1:{p.internal},"
            f"CONTROLLER://127.0.0.1:{p.controller}",
            "advertised.listeners": f"CLIENT://127.0.0.1:{p.client},INTERNAL://127.0.0.1:{p.internal}",
            "listener.security.protocol.map": "CLIENT:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL",
            "inter.broker.listener.name": "INTERNAL",
            "controller.listener.names": "CONTROLLER",
            "listener.name.client.sasl.enabled.mechanisms": MECHANISM,
            "listener.name.client.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": keystore,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": self.ca.cert_path,
            "listener.name.internal.ssl.client.auth": "required",
            "listener.name.controller.ssl.client.auth": "required",
            # "CN=broker-0,O=..." -> principal "broker-0"
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+),.*$/$1/,DEFAULT",
            **BROKER_POLICY,
            "super.users": f"User:{ADMIN_USER};{brokers}",
            "num.partitions": 6,
            "offsets.topic.num.partitions": 12,
            "transaction.state.log.num.partitions": 6,
            "group.initial.rebalance.delay.ms": 0,
            # a killed broker is fenced (and its partitions led by others) after 6 s instead of 9 s
            "broker.session.timeout.ms": 6000,
            "broker.heartbeat.interval.ms": 1500,
            "log.dirs": node.data,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "background.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
            "log.cleaner.threads": 1,
            "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,  # default 128 MiB does not fit a small heap
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            java_binary(),
            "-Xms64m",
            f"-Xmx{self.heap}",
            *JVM_FLAGS,
            *(["-XX:TieredStopAtLevel=1"] if self.quick_start else []),
            f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
            f"-Dagencybus.cluster={self.directory}",
            "-cp",
            classpath(),
            main,
            *args,
        ]

    def _format(self, node: _Node) -> None:
        command = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self.cluster_id,
            "-c",
            str(node.properties),
            "--add-scram",
            _scram_argument(ADMIN_USER, self.admin_password),
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise ClusterError(
                f"formatting node {node.node_id} failed (exit {done.returncode}):\n"
                + "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            )

    # --- who connects -----------------------------------------------------------
    @property
    def admin_password(self) -> str:
        return self._password_file.read_text().strip()

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{n.ports.client}" for n in self.nodes)

    def settings(self, user: str = ADMIN_USER, password: str | None = None, **overrides: Any) -> Settings:
        """The project's Settings for ``user`` on this cluster (the admin's when no user is given)."""
        if password is None:
            if user != ADMIN_USER:
                raise ClusterError(f"the password of {user!r} is needed (only the admin's is kept here)")
            password = self.admin_password
        values: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_username": user,
            "sasl_password": SecretStr(password),
            "ssl_cafile": self.ca.cert_path,
            "replication_factor": 3,
            "broker_kind": "kafka",
        }
        values.update(overrides)
        return Settings(**values)

    def admin(self, **overrides: Any) -> AdminClient:
        from agencybus.kafka import make_admin

        return make_admin(self.settings(), **overrides)

    def create_user(self, user: str, password: str | None = None, *, timeout_s: float = 60.0) -> str:
        """Create (or reset) ``user``'s SCRAM-SHA-512 credential; returns its password once every
        running broker accepts the login (the controller answers before the brokers replay it)."""
        from agencybus.scram_logins import LoginsRefused, wait_for_logins

        password = password or secrets.token_urlsafe(18)
        admin = self.admin()
        try:
            errors = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, password)]
            )
        finally:
            admin.close()
        if errors.get(user):
            raise ClusterError(f"cannot create SCRAM user {user!r}: {errors[user]}")
        brokers = [f"127.0.0.1:{n.ports.client}" for n in self.nodes if n.running]
        try:
            wait_for_logins(self.settings(), brokers, {user: SecretStr(password)}, timeout_s=timeout_s)
        except LoginsRefused as exc:
            raise ClusterError(f"SCRAM user {user!r} created, but {exc}") from None
        return password

    def leaders(self, topic: str) -> dict[int, int]:
        """Partition -> node id of its leader (-1 while none is elected)."""
        admin = self.admin()
        try:
            described = admin.describe_topics([topic])
        finally:
            admin.close()
        for entry in described:
            if entry.get("error_code", 0):
                raise ClusterError(f"cannot describe {topic!r}: error code {entry['error_code']}")
            return {int(p["partition_index"]): int(p["leader_id"]) for p in entry["partitions"]}
        raise ClusterError(f"topic {topic!r} not found")

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> Self:
        """Format on first use, start every node that is not running, wait until all brokers answer."""
        if not self.formatted:
            self._prepare()
        for node in self.nodes:
            if not node.running:
                self._spawn(node)
        self.wait_ready(self.size)
        return self

    def start_node(self, node_id: int, *, wait: bool = True) -> None:
        """Start one stopped or killed node again (its data and ports are kept)."""
        node = self.node(node_id)
        if not node.running:
            self._spawn(node)
        if wait:
            self.wait_ready(sum(n.running for n in self.nodes))

    def node(self, node_id: int) -> _Node:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise ClusterError(f"no node {node_id} in this cluster")

    def _spawn(self, node: _Node) -> None:
        node.close_log()
        node._log = node.log_path.open("ab")
        bound = self.bound_to_owner
        if bound and self._watchdog is None:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-m", "agencybus.cluster_watchdog", str(os.getpid()), str(self.directory)],
                stdin=subprocess.DEVNULL,
            )
            atexit.register(self.stop)
        try:
            node.process = subprocess.Popen(
                self._java("kafka.Kafka", str(node.properties)),
                stdout=node._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the owner, which stops the nodes in order
                preexec_fn=die_with_parent() if bound else None,
            )
        except OSError as exc:
            node.close_log()
            raise ClusterError(f"cannot start node {node.node_id}: {exc}") from exc
        node.pid_file.write_text(f"{node.process.pid}\n")

    def _answering(self) -> int:
        """How many running nodes serve clients and are registered brokers (0 when none answers).

        A node opens its client listener only once it is an unfenced broker; the registrations
        alone are not enough, since after a restart of every node the metadata log still lists
        the brokers of before until their sessions expire.
        """
        serving = {n.node_id for n in self.nodes if n.running and self._port_open(n.ports.client)}
        if not serving:
            return 0
        try:
            admin = self.admin(request_timeout_ms=5000, bootstrap_timeout_ms=5000, client_id="cluster-probe")
        except KafkaError:
            return 0
        try:
            brokers = admin.describe_cluster()["brokers"]
            registered = {int(b["broker_id"]) for b in brokers if not b.get("is_fenced", False)}
        except KafkaError:
            return 0
        finally:
            admin.close()
        return len(serving & registered)

    @staticmethod
    def _port_open(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def wait_ready(self, brokers: int, timeout_s: float | None = None) -> None:
        """Wait until ``brokers`` brokers are registered and answer SASL_SSL requests."""
        deadline = time.monotonic() + (timeout_s or self.start_timeout_s)
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None and node.pid is None:
                    code = node.process.returncode
                    node.process = None
                    raise ClusterError(
                        f"node {node.node_id} exited with code {code} while starting; "
                        f"log tail ({node.log_path}):\n{_tail(node.log_path)}"
                    )
            if self._answering() >= brokers:
                return
            time.sleep(0.5)
        tails = "\n".join(
            f"--- node {n.node_id} ({n.log_path}):\n{_tail(n.log_path, 10)}" for n in self.nodes
        )
        raise ClusterError(f"the cluster did not have {brokers} brokers answering in time\n{tails}")

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (a crash: no controlled shutdown, nothing flushed)."""
        node = self.node(node_id)
        pid = node.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._reap(node)

    def stop_node(self, node_id: int) -> None:
        """SIGTERM one node and wait for its controlled shutdown."""
        node = self.node(node_id)
        pid = node.pid
        if pid is not None:
            stop_pids([pid], STOP_GRACE_S)
            self._reap(node)

    def _reap(self, node: _Node) -> None:
        if node.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=STOP_GRACE_S)
            node.process = None
        node.close_log()
        node.pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop every node (SIGTERM, SIGKILL after a grace period) and the watchdog; safe to call twice."""
        running = [(n, n.pid) for n in self.nodes]
        stop_pids([pid for _, pid in running if pid is not None], STOP_GRACE_S)
        for node, _ in running:
            self._reap(node)
        if self._watchdog is not None:
            self._watchdog.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=5)
            self._watchdog = None
        atexit.unregister(self.stop)

    def status(self) -> list[dict[str, Any]]:
        """One row per node: id, pid (None if down), client port."""
        return [{"node": n.node_id, "pid": n.pid, "port": n.ports.client} for n in self.nodes]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
