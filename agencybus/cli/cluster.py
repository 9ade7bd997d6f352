"""``agencybus cluster``: a local 3-node Apache Kafka cluster (SASL_SSL, SCRAM, ACLs) in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from kafka.errors import KafkaError
from rich.table import Table

from agencybus.cli.common import console, fail, settings_or_exit
from agencybus.cluster import ADMIN_USER, ClusterError, KafkaCluster
from agencybus.kafka import ensure_topics
from agencybus.kafka_dist import KafkaDistError

app = typer.Typer(
    help="A local Apache Kafka cluster (3 KRaft nodes, TLS, SCRAM, authorizer) that keeps its data.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Cluster directory (default: AGENCYBUS_DATA_DIR/cluster)."),
]


def _directory(directory: Path | None) -> Path:
    return directory or settings_or_exit().data_dir / "cluster"


def write_env_file(cluster: KafkaCluster) -> Path:
    """The admin's AGENCYBUS_* variables in a 0600 file (sourced, never printed: it holds the password)."""
    settings = cluster.settings()
    lines = {
        "AGENCYBUS_BROKER_KIND": "kafka",
        "AGENCYBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "AGENCYBUS_SECURITY_PROTOCOL": settings.security_protocol,
        "AGENCYBUS_SASL_MECHANISM": settings.sasl_mechanism,
        "AGENCYBUS_SASL_USERNAME": ADMIN_USER,
        "AGENCYBUS_SASL_PASSWORD": cluster.admin_password,
        "AGENCYBUS_SSL_CAFILE": str(cluster.ca.cert_path),
        "AGENCYBUS_REPLICATION_FACTOR": "3",
    }
    path = cluster.directory / "admin.env"
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"export {key}='{value}'\n" for key, value in lines.items()))
    return path


@app.command("up")
def up(
    directory: DirOption = None,
    topics: Annotated[
        bool, typer.Option(help="Create the catalog's topics once the cluster answers.")
    ] = True,
    quick_start: Annotated[
        bool, typer.Option("--quick-start", help="JIT with C1 only: starts in about half the time (tests).")
    ] = False,
) -> None:
    """Start the cluster (formatted on first use, its data kept after); returns once every broker answers."""
    cluster = KafkaCluster(_directory(directory), bound_to_owner=False, quick_start=quick_start)
    try:
        cluster.start()
        if topics:
            created = ensure_topics(cluster.settings())
            console.print(f"topics: {len(created.created)} created, {len(created.existing)} existing")
    except (ClusterError, KafkaDistError, KafkaError) as exc:
        fail(str(exc))
    env_file = write_env_file(cluster)
    console.print(f"bootstrap: {cluster.bootstrap_servers} (SASL_SSL, SCRAM-SHA-512)", highlight=False)
    console.print(f"admin settings: source {env_file}", highlight=False)
    console.print("stop with: agencybus cluster down")


@app.command("down")
def down(directory: DirOption = None) -> None:
    """Stop every node of the cluster (its data stays; `up` starts it again)."""
    path = _directory(directory)
    cluster = KafkaCluster(path, bound_to_owner=False)
    if not cluster.formatted:
        fail(f"no cluster in {path}")
    cluster.stop()
    console.print("cluster stopped")


@app.command("status")
def status(directory: DirOption = None) -> None:
    """Which nodes run (pid, client port); exit 1 unless all of them do."""
    path = _directory(directory)
    cluster = KafkaCluster(path, bound_to_owner=False)
    if not cluster.formatted:
        fail(f"no cluster in {path}")
    table = Table(title=f"Kafka cluster in {path}")
    for column in ("node", "pid", "client port", "state"):
        table.add_column(column)
    rows = cluster.status()
    for row in rows:
        table.add_row(
            str(row["node"]), str(row["pid"] or "-"), str(row["port"]), "running" if row["pid"] else "down"
        )
    console.print(table)
    console.print(f"bootstrap: {cluster.bootstrap_servers}", highlight=False)
    if not all(row["pid"] for row in rows):
        raise typer.Exit(1)
