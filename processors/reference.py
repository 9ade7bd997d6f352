"""The correlation core fed raw agency records in one process: the reference a worker must match.

The faust app spreads the same steps over two stages (ingest on every worker, then the
single writer's :class:`~processors.pipeline.CorrelationPipeline`); tests and benchmarks
feed the same records through this loop and compare the final cases with what the
workers published.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from processors.cases import CaseSnapshot
from processors.ingest import ingest
from processors.pipeline import CorrelationPipeline


class ReferencePipeline(CorrelationPipeline):
    """Identity + correlation for records fed one at a time; no Kafka, no faust."""

    def feed(self, topic: str, value: bytes, headers: Sequence[tuple[str, Any]] | None) -> list[CaseSnapshot]:
        """Process one agency record; returns every case version it produced, in order."""
        summary = ingest(topic, value, headers).event
        if summary is None:
            raise ValueError(f"record on {topic} is not an agency event the processors correlate")
        return self.event(summary).alerts
