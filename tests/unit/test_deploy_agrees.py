"""deploy/ says what the tests run: broker policy, Kafka version, principals, security settings.

The compose file and the Kubernetes manifests are not run by any test (no Docker engine or
cluster here; deploy/README.md lists what that leaves untested); this keeps every value they
share with the tested cluster (agencybus/cluster.py), the ACL plan (agencybus/acl.py) and the
settings (agencybus/settings.py) equal to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agencybus import acl
from agencybus.cluster import BROKER_POLICY, MECHANISM
from agencybus.kafka_dist import kafka_version

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((DEPLOY / "kafka" / "compose.yaml").read_text())["services"]
    return services


def k8s_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "agencybus.yaml").read_text()) if d]


def env_name(prop: str) -> str:
    """The apache/kafka image's variable for a broker property (dots become underscores)."""
    return "KAFKA_" + prop.upper().replace(".", "_")


def test_compose_runs_the_tested_kafka_version_with_the_tested_broker_policy() -> None:
    services = compose_services()
    assert len(services) == 3  # three combined broker+controller nodes, as the tests run
    for name, service in services.items():
        assert service["image"] == f"apache/kafka:{kafka_version()}", name
        env = {k: str(v) for k, v in service["environment"].items()}
        for prop, value in BROKER_POLICY.items():
            assert env.get(env_name(prop)) == str(value), (name, prop)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert protocols["EXTERNAL"] == "SASL_SSL" and "PLAINTEXT" not in protocols.values()


def test_acl_tooling_is_the_generated_plan_only() -> None:
    assert not (DEPLOY / "kafka" / "acls.sh").exists()
    assert (DEPLOY / "kafka" / "acl-plan.tsv").read_text() == acl.as_tsv(acl.plan())
    readme = (DEPLOY / "README.md").read_text()
    assert "agencybus acl apply" in readme and "acl-plan.tsv" in readme


def test_every_k8s_role_connects_as_its_own_principal_of_the_plan() -> None:
    docs = k8s_documents()
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config["data"]["AGENCYBUS_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["data"]["AGENCYBUS_SASL_MECHANISM"] == MECHANISM
    assert config["data"]["AGENCYBUS_REPLICATION_FACTOR"] == str(BROKER_POLICY["default.replication.factor"])
    principals = {p.name for p in acl.principals()}
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    assert len(workloads) >= 5
    for workload in workloads:
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        secrets = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
        assert len(secrets) == 1 and secrets[0] in principals, (workload["metadata"]["name"], secrets)
        args = container["args"]
        if "process" in args:  # the processors' app id must be under their ACL prefix
            assert args[args.index("--app-id") + 1].startswith(acl.PROCESSORS_PREFIX)
