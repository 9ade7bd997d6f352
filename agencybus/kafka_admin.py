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


class AdminClient(KafkaAdminClient):  # type: ignore[misc]  # kafka-python has no type hints
    """``KafkaAdminClient`` that stops what its constructor started when the constructor fails."""

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


__all__ = ["AdminClient"]
