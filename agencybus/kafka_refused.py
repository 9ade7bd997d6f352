"""Ask again when the broker a kafka-python request reached refuses the connection.

kafka-python 3.0 sends a metadata or admin request to one broker of its metadata and raises
``KafkaConnectionError`` when that broker refuses the connection, even while the others answer.
A broker killed a moment ago stays in the metadata until its session expires (6 s on the local
cluster, 9 s by Kafka's default), so a role started then (or the first broker of its bootstrap
list down) failed on its first request. The refused node is then in reconnect backoff, and the
same request asked again goes to another broker: these wrappers ask again, through the public
methods only, until the client's request timeout.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaConnectionError, NodeNotReadyError

REFUSED = (KafkaConnectionError, NodeNotReadyError)


def asking_another_broker(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` again while the broker it reached refuses the connection, within the request timeout."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.config["request_timeout_ms"] / 1000
        while True:
            try:
                return method(self, *args, **kwargs)
            except REFUSED:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    return call


class Consumer(KafkaConsumer):  # type: ignore[misc]  # kafka-python has no type hints
    """``KafkaConsumer`` whose metadata and offset look-ups ask another broker when one refuses."""


for _name in ("topics", "partitions_for_topic", "beginning_offsets", "end_offsets", "offsets_for_times",
              "committed"):  # fmt: skip
    setattr(Consumer, _name, asking_another_broker(getattr(KafkaConsumer, _name)))

__all__ = ["REFUSED", "Consumer", "asking_another_broker"]
