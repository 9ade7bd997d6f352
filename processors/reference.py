"""The whole correlation core run in one process, in record order: the reference a worker must match.

The faust app spreads the same steps over topics and partitions (ingest → identity → the
cluster's correlation state → alerts); tests and benchmarks feed the same records through
this plain-Python loop and compare the final cases with what the workers published.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from processors.cases import CaseSnapshot, Correlator, correlation_messages
from processors.identity import IdentityResolver
from processors.ingest import ingest


class ReferencePipeline:
    """Identity + correlation for records fed one at a time; no Kafka, no faust."""

    def __init__(self, resolver: IdentityResolver, correlator: Correlator) -> None:
        self.resolver = resolver
        self.correlator = correlator
        self.states: dict[str, dict[str, Any]] = {}

    def feed(self, topic: str, value: bytes, headers: Sequence[tuple[str, Any]] | None) -> list[CaseSnapshot]:
        """Process one agency record; returns every case version it produced, in order."""
        summary = ingest(topic, value, headers).event
        if summary is None:
            raise ValueError(f"record on {topic} is not an agency event the processors correlate")
        resolution = self.resolver.resolve(summary.event_id, summary.tokens, summary.occurred_at)
        queue = correlation_messages(
            resolution.cluster_id, resolution.absorbed, {**summary.to_dict(), "tokens": resolution.tokens}
        )
        snapshots: list[CaseSnapshot] = []
        while queue:
            send = queue.pop(0)
            state, outcome = self.correlator.handle(self.states.get(send.cluster_id), send.message)
            self.states[send.cluster_id] = state
            queue.extend(outcome.sends)
            snapshots.extend(outcome.alerts)
        return snapshots
