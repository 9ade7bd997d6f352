"""Every role on the 3-broker cluster over SASL_SSL + SCRAM: the integration tests of each role, rerun.

The SDK, the file import, the gateway, the dead-letter and topic CLI verbs, the dashboard's
ingest, the forwarder and the State Bank service (its ledger on PostgreSQL) run here the very
tests they pass on the embedded broker; only the ``settings`` fixture differs: it is the
cluster's, with the SASL/TLS variables also in the environment for the CLI verbs. The
processors are in test_pipeline_on_kafka.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agencybus import signing
from agencybus.cluster import KafkaCluster
from agencybus.settings import Settings
from tests.helpers import unique_group
from tests.integration.test_bank_service import (  # noqa: F401  (fixture and test rerun on Kafka)
    service,
    test_signed_request_end_to_end_with_duplicate_forgery_and_dead_letter,
)
from tests.integration.test_deadletter import (  # noqa: F401
    source,
    test_cli_lists_shows_and_replays,
)
from tests.integration.test_file_import import (  # noqa: F401
    test_mixed_file_rejects_bad_rows_and_publishes_good_rows_once,
)
from tests.integration.test_forwarder import (  # noqa: F401
    test_webhook_down_then_up_delivers_every_alert_and_resumes_after_restart,
    webhook,
)
from tests.integration.test_gateway import (  # noqa: F401
    gateway,
    test_event_is_accepted_and_read_back_from_the_topic,
    test_payment_block_request_without_gateway_key_is_503_and_with_key_is_signed,
)
from tests.integration.test_publisher import (  # noqa: F401
    test_payment_block_request_is_signed_and_verifies,
    test_publish_many_is_read_back_decoded_and_keyed_by_seller,
    test_simulated_scenario_is_published_and_read_back,
)
from tests.integration.test_steering_ingest import (  # noqa: F401
    running,
    test_alerts_actions_and_bad_records_flow_into_the_store,
)
from tests.integration.test_topics import (  # noqa: F401
    test_cli_create_is_idempotent_and_list_shows_the_catalog,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
def settings(kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The cluster's settings for in-process roles, and the same in the environment for CLI verbs."""
    for name, value in kafka_settings.kafka_env().items():
        monkeypatch.setenv(name, value)
    return kafka_settings


@pytest.fixture
def bank_settings(kafka_cluster: KafkaCluster, settings: Settings, tmp_path: Path, pg_url: str) -> Settings:
    """The State Bank service on the cluster with its ledger on PostgreSQL."""
    bank = settings.model_copy(
        update={
            "database_url": pg_url,
            "bank_web_port": 0,
            "bank_consumer_group": unique_group("bank"),
            "bank_sweep_interval_s": 0.5,
        }
    )
    for agency in ("CA", "QLTT", "NHNN"):
        signing.generate_keypair(agency, bank.resolved_keys_dir)
    return bank
