"""The ACL plan applied to the session's Kafka cluster, and each principal's settings, as a fixture.

``agencybus acl apply`` runs once per session (as the admin); the credentials of every
principal of the plan land in one directory under the cluster's, so every ``kafka`` test
connects each role with its own principal through :meth:`KafkaPrincipals.settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agencybus import acl
from agencybus.acl_apply import (
    ApplyResult,
    apply_plan,
    broker_addresses,
    credentials_file,
    read_password,
    wait_until_usable,
)
from agencybus.cluster import KafkaCluster
from agencybus.settings import Settings


@dataclass
class KafkaPrincipals:
    """The applied plan: who exists, what each may do, and how to connect as each."""

    cluster: KafkaCluster
    credentials_dir: Path
    plan: list[acl.Binding]
    first_apply: ApplyResult

    def password(self, principal: str) -> str:
        return read_password(credentials_file(self.credentials_dir, principal))

    def settings(self, principal: str, **overrides: Any) -> Settings:
        """Settings that connect as ``principal`` (its own SCRAM user) to the session's cluster."""
        return self.cluster.settings(principal, self.password(principal), **overrides)


@pytest.fixture(scope="session")
def kafka_principals(kafka_cluster: KafkaCluster) -> KafkaPrincipals:
    """Every principal of the plan with its bindings, applied (idempotently) to the session cluster."""
    credentials_dir = kafka_cluster.directory / "credentials"
    admin = kafka_cluster.admin()
    try:
        result = apply_plan(admin, credentials_dir)
        # every broker authenticates every principal before a test connects as one (no sleep: logins)
        wait_until_usable(
            kafka_cluster.settings(), broker_addresses(admin), result.users_created, credentials_dir
        )
    finally:
        admin.close()
    return KafkaPrincipals(kafka_cluster, credentials_dir, acl.plan(), result)
