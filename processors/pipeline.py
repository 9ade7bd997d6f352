"""Identity and correlation as one step per input: the single writer's core.

An agency event is resolved to its seller cluster, then every correlation message it
causes (absorbs of merged clusters, the event itself, the transfers those absorbs send
on) is applied in order to the clusters' states, in this process. A case update goes
straight to its cluster. Plain Python over mutable mappings: faust tables (through
:class:`processors.writeback.WriteBack`) in the worker, dicts in tests and benchmarks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from processors.cases import CaseSnapshot, Correlator, Send, correlation_messages
from processors.events import EventSummary
from processors.identity import IdentityResolver, Resolution
from schemas.ids import scoped_id


@dataclass
class Step:
    """What one input did: the identity decision (events only), new case versions, rules fired."""

    resolution: Resolution | None = None
    alerts: list[CaseSnapshot] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)


class CorrelationPipeline:
    """Resolve, correlate and version cases for inputs fed one at a time, in order."""

    def __init__(
        self,
        resolver: IdentityResolver,
        correlator: Correlator,
        states: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.resolver = resolver
        self.correlator = correlator
        self.states: MutableMapping[str, Any] = states if states is not None else {}

    def event(self, summary: EventSummary) -> Step:
        """An agency event: join its tokens into a cluster, then correlate within that cluster."""
        # scoped by agency: another agency's event with the same id is another event
        resolution = self.resolver.resolve(
            scoped_id(summary.agency, summary.event_id), summary.tokens, summary.occurred_at
        )
        routed = {**summary.to_dict(), "tokens": resolution.tokens}
        step = self._run(correlation_messages(resolution.cluster_id, resolution.absorbed, routed))
        step.resolution = resolution
        return step

    def case_update(self, send: Send) -> Step:
        """A person closed or reopened a case (``processors.cases.case_update_message``)."""
        return self._run([send])

    def _run(self, sends: list[Send]) -> Step:
        step = Step()
        queue = deque(sends)
        while queue:
            send = queue.popleft()
            state, outcome = self.correlator.handle(self.states.get(send.cluster_id), send.message)
            self.states[send.cluster_id] = state
            queue.extend(outcome.sends)
            step.alerts.extend(outcome.alerts)
            step.fired.extend(outcome.fired)
        return step
