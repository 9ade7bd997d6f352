"""A kafka-python admin client that does not leave its network thread behind when it cannot start.

kafka-python 3.0's ``KafkaAdminClient.__init__`` starts its IO thread (``kafka-io-<client id>``)
and then bootstraps; when bootstrapping fails (no broker, or something else listening on the
port) the constructor raises and nothing stops that thread. ``agencybus topics list`` without a
broker, and the embedded broker's readiness probe while the broker starts, each left one behind;
in the test run those threads went on reconnecting, and their retry jitter drew from ``random``
while hypothesis generated data (HypothesisDeprecationWarning).
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient

from agencybus.kafka_refused import asking_another_broker

# What a role asks the admin client (see agencybus.kafka_refused for why these are asked again).
RETRIED = (
    "list_topics", "describe_topics", "create_topics", "delete_topics", "describe_cluster",
    "describe_configs", "delete_records", "list_groups", "describe_groups", "list_group_offsets",
    "list_partition_offsets", "describe_acls", "create_acls", "delete_acls",
    "describe_user_scram_credentials", "alter_user_scram_credentials",
)  # fmt: skip


class AdminClient(KafkaAdminClient):  # type: ignore[misc]  # kafka-python has no type hints
    """``KafkaAdminClient`` that stops what its constructor started when the constructor fails,
    and asks another broker when the one a request reached refuses the connection."""

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            self._stop_started_parts()
            raise

    def _stop_started_parts(self) -> None:
        """Best effort, part by part: the constructor may have failed before making any of them."""
        for name, stop in (("_client", "close"), ("_net", "stop"), ("_metrics", "close")):
            part = getattr(self, name, None)
            if part is None:
                continue
            try:
                getattr(part, stop)()
            except Exception:  # the constructor's own error is the one to report
                continue


for _name in RETRIED:
    setattr(AdminClient, _name, asking_another_broker(getattr(KafkaAdminClient, _name)))

__all__ = ["AdminClient"]
