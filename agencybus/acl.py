"""Who may do what on the Kafka cluster: principals and ACL bindings as data, generated, never hand-written.

The plan comes from two sources of truth only: the agency registry
(``schemas/reference/agencies.yaml``: who the agencies are, who may request payment blocks,
who receives alerts) and the event types' descriptors (``schemas/event_types.py``: who may
publish each, on which topic of ``schemas/topics.py``). ``agencybus acl plan`` prints it;
``agencybus acl apply`` (``agencybus.acl_apply``) makes the cluster match it.

Least privilege, one SCRAM principal per agency and per role:

* an agency (``QLTT``) writes its own agency topics (prefix ``agency.qltt.``) and reads only its
  own alert topic and its forwarder's group; an agency an event type's descriptor does not allow
  to publish it (payment-block requests: the registry's ``may_request_payment_blocks``) is DENIED
  that type's topic name, so it cannot write one even if it existed;
* the gateway writes the agency topics of every agency (it authenticates each by API key and
  publishes an event only to its own agency's topic), with the same denials;
* the processors read every agency topic and ``cases.updates.v1``, write the alert topics and
  the agency topics' dead letters, and own their internal topics and groups (prefix
  ``agencybus-processors``: every app id must start with it);
* the dashboard reads the alerts, the bank statuses, the case updates, the agency topics
  (counts and the yearly report) and the platforms' answers, is the only principal that writes
  ``cases.updates.v1``, and writes the takedown-request topics (a case page's "request takedown",
  signed with the officer's agency key: the platform verifies the signature, not the topic);
* the State Bank service is the only one that reads the request topics and writes the status
  topic, which it also reads (its relay re-reads what it published after a crash);
* each agency's forwarder reads that agency's alert topic in its own group;
* each platform of the platform registry (``SHOPEE``) writes only its own answer topic (prefix
  ``platform.shopee.``) and reads nothing: its requests reach it over HTTP or a file, through its
  forwarder (``forwarder-platform-shopee``), which reads the takedown-request topics in its own
  group and keeps those addressed to that platform; an agency the registry does not allow to
  request takedowns is DENIED its takedown-request topic name, as for payment blocks.

Whoever consumes a topic may write its dead letters (``dlq.<topic>``); the operator's
``agencybus dlq`` and ``topics create`` run as the cluster's admin (a super user, not in the plan).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from schemas import event_types as et
from schemas import topics as tc

PROCESSORS_PREFIX = "agencybus-processors"  # app ids, internal topics and groups of the processors
BANK_GROUP = "state-bank"  # Settings.bank_consumer_group's default


class Role(StrEnum):
    AGENCY = "agency"
    PROCESSORS = "processors"
    GATEWAY = "gateway"
    DASHBOARD = "dashboard"
    BANK = "bank"
    FORWARDER = "forwarder"
    PLATFORM = "platform"
    PLATFORM_FORWARDER = "platform-forwarder"


class Resource(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"


class Pattern(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


class Operation(StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DESCRIBE = "DESCRIBE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"


class Permission(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"


# Kafka's implications (AclEntry.java): READ, WRITE (and DELETE, ALTER) imply DESCRIBE.
_IMPLIES: dict[Operation, frozenset[Operation]] = {
    Operation.READ: frozenset({Operation.READ, Operation.DESCRIBE}),
    Operation.WRITE: frozenset({Operation.WRITE, Operation.DESCRIBE}),
    Operation.CREATE: frozenset({Operation.CREATE}),
    Operation.DESCRIBE: frozenset({Operation.DESCRIBE}),
    Operation.DESCRIBE_CONFIGS: frozenset({Operation.DESCRIBE_CONFIGS}),
}


@dataclass(frozen=True, order=True)
class Principal:
    """A SCRAM user of the cluster: ``name`` is the username (``User:<name>`` in the ACLs)."""

    name: str
    role: Role
    agency: str | None = None

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.name}"


@dataclass(frozen=True, order=True)
class Binding:
    """One ACL binding: ``principal`` may (or may not) do ``operation`` on the resource(s) named."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation
    permission: Permission = Permission.ALLOW

    def matches(self, resource: Resource, name: str) -> bool:
        if resource != self.resource:
            return False
        return name == self.name if self.pattern == Pattern.LITERAL else name.startswith(self.name)

    def row(self) -> tuple[str, str, str, str, str, str]:
        return (self.principal, self.resource, self.name, self.pattern, self.operation, self.permission)


def forwarder_name(agency: str) -> str:
    """The forwarder's principal and its consumer group (``forwarder-qltt``, as the forwarder names it)."""
    return f"forwarder-{agency.lower()}"


def platform_forwarder_name(platform: str) -> str:
    """The principal and group of a platform's forwarder (``forwarder-platform-shopee``)."""
    return f"forwarder-platform-{platform.lower()}"


def principals() -> list[Principal]:
    """Every principal of the plan: one per agency and platform, one per role, one forwarder per receiver."""
    from schemas import reference
    from schemas.platforms import platform_codes

    agencies = sorted(reference.agencies())
    receivers = sorted(reference.alert_agencies())
    return [
        *(Principal(code, Role.AGENCY, code) for code in agencies),
        Principal("agencybus-processors", Role.PROCESSORS),
        Principal("agencybus-gateway", Role.GATEWAY),
        Principal("agencybus-dashboard", Role.DASHBOARD),
        Principal("agencybus-bank", Role.BANK),
        *(Principal(forwarder_name(code), Role.FORWARDER, code) for code in receivers),
        *(Principal(code, Role.PLATFORM, code) for code in sorted(platform_codes())),
        *(
            Principal(platform_forwarder_name(code), Role.PLATFORM_FORWARDER, code)
            for code in sorted(platform_codes())
        ),
    ]


def _allow(p: Principal, resource: Resource, name: str, pattern: Pattern, *ops: Operation) -> list[Binding]:
    return [Binding(p.name, resource, name, pattern, op) for op in ops]


def _publishes_for(p: Principal, agencies: Iterable[str]) -> list[Binding]:
    """Write one or more agencies' topics; DENY each agency the topics of types its descriptor forbids it."""
    from schemas import reference

    registry = reference.agencies()
    out: list[Binding] = []
    for code in agencies:
        out += _allow(p, Resource.TOPIC, tc.agency_topic_prefix(code), Pattern.PREFIXED, Operation.WRITE)
        for etype in et.agency_topic_types():
            if not etype.may_publish(registry[code]):
                name = f"{tc.agency_topic_prefix(code)}{etype.topic}.v{etype.major}"
                out.append(
                    Binding(p.name, Resource.TOPIC, name, Pattern.LITERAL, Operation.WRITE, Permission.DENY)
                )
    return out


def _dead_letters(p: Principal, topics: Iterable[str]) -> list[Binding]:
    """Write the dead-letter topics of the topics ``p`` consumes."""
    return [
        Binding(p.name, Resource.TOPIC, tc.dead_letter_topic(t), Pattern.LITERAL, Operation.WRITE)
        for t in topics
    ]


def bindings_for(p: Principal, *, bank_group: str = BANK_GROUP) -> list[Binding]:
    """What one principal may do (see the module docstring for the why)."""
    from schemas import reference

    agencies = sorted(reference.agencies())
    receivers = sorted(reference.alert_agencies())
    alert_topics = [tc.ALERTS_ALL.name, *(tc.alert_topic_name(code) for code in receivers)]
    request_topics = [t.name for t in tc.agency_topics(et.PAYMENT_BLOCK_REQUEST)]
    topic, group = Resource.TOPIC, Resource.GROUP
    literal, prefixed = Pattern.LITERAL, Pattern.PREFIXED
    read, write = Operation.READ, Operation.WRITE
    if p.role == Role.AGENCY:
        assert p.agency is not None
        return [
            *_publishes_for(p, [p.agency]),
            *_allow(p, topic, tc.alert_topic_name(p.agency), literal, read),
            *_allow(p, group, forwarder_name(p.agency), literal, read),
        ]
    if p.role == Role.GATEWAY:
        return _publishes_for(p, agencies)
    if p.role == Role.PROCESSORS:
        return [
            *_allow(p, topic, tc.AGENCY_PREFIX, prefixed, read),
            *_allow(p, topic, tc.CASE_UPDATES.name, literal, read),
            *(b for name in alert_topics for b in _allow(p, topic, name, literal, write)),
            *_allow(p, topic, tc.dead_letter_topic(tc.AGENCY_PREFIX), prefixed, write),
            *_dead_letters(p, [tc.CASE_UPDATES.name]),
            *_allow(
                p,
                topic,
                PROCESSORS_PREFIX,
                prefixed,
                read,
                write,
                Operation.CREATE,
                Operation.DESCRIBE_CONFIGS,
            ),
            *_allow(p, group, PROCESSORS_PREFIX, prefixed, read),
        ]
    if p.role == Role.DASHBOARD:
        own = [tc.ALERTS_ALL.name, tc.CASE_UPDATES.name, tc.PAYMENT_BLOCK_STATUS.name]
        return [
            *(b for name in own for b in _allow(p, topic, name, literal, read)),
            *_allow(p, topic, tc.AGENCY_PREFIX, prefixed, read),
            *_allow(p, topic, tc.PLATFORM_PREFIX, prefixed, read),
            *_allow(p, topic, tc.dead_letter_topic(tc.PLATFORM_PREFIX), prefixed, write),
            *_allow(p, topic, tc.CASE_UPDATES.name, literal, write),
            *(
                b
                for t in tc.agency_topics(et.TAKEDOWN_REQUEST)
                for b in _allow(p, topic, t.name, literal, write)
            ),
            *_dead_letters(p, own),
            *_allow(p, topic, tc.dead_letter_topic(tc.AGENCY_PREFIX), prefixed, write),
        ]
    if p.role == Role.BANK:
        return [
            *(b for name in request_topics for b in _allow(p, topic, name, literal, read)),
            *_allow(p, topic, tc.PAYMENT_BLOCK_STATUS.name, literal, read, write),
            *_dead_letters(p, request_topics),
            *_allow(p, group, bank_group, literal, read),
        ]
    if p.role == Role.FORWARDER:
        assert p.agency is not None
        alerts = tc.alert_topic_name(p.agency)
        return [
            *_allow(p, topic, alerts, literal, read),
            *_dead_letters(p, [alerts]),
            *_allow(p, group, forwarder_name(p.agency), literal, read),
        ]
    if p.role == Role.PLATFORM:
        assert p.agency is not None
        return _allow(p, topic, tc.platform_topic_prefix(p.agency), prefixed, write)
    if p.role == Role.PLATFORM_FORWARDER:
        assert p.agency is not None
        takedowns = [t.name for t in tc.agency_topics(et.TAKEDOWN_REQUEST)]
        return [
            *(b for name in takedowns for b in _allow(p, topic, name, literal, read)),
            *_dead_letters(p, takedowns),
            *_allow(p, group, platform_forwarder_name(p.agency), literal, read),
        ]
    raise ValueError(f"no bindings for role {p.role}")


def plan(*, bank_group: str = BANK_GROUP) -> list[Binding]:
    """Every binding of every principal, sorted (the order ``acl plan`` prints)."""
    return sorted(b for p in principals() for b in bindings_for(p, bank_group=bank_group))


def allowed(
    bindings: Sequence[Binding], principal: str, resource: Resource, name: str, operation: Operation
) -> bool:
    """What the broker's StandardAuthorizer decides for this plan: a matching DENY wins, else an ALLOW
    of the operation or of one that implies it (READ and WRITE imply DESCRIBE; a DENY implies nothing)."""
    relevant = [b for b in bindings if b.principal == principal and b.matches(resource, name)]
    if any(b.permission == Permission.DENY and b.operation == operation for b in relevant):
        return False
    return any(b.permission == Permission.ALLOW and operation in _IMPLIES[b.operation] for b in relevant)


HEADER = ("PRINCIPAL", "RESOURCE", "NAME", "PATTERN", "OPERATION", "PERMISSION")


def as_tsv(bindings: Sequence[Binding]) -> str:
    """The plan as tab-separated lines with a header (what deploy/kafka/acl-plan.tsv holds)."""
    lines = ["\t".join(HEADER), *("\t".join(b.row()) for b in bindings)]
    return "\n".join(lines) + "\n"


def as_table(bindings: Sequence[Binding]) -> str:
    """The plan as an aligned table for people."""
    rows = [HEADER, *(b.row() for b in bindings)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    return (
        "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"
    )
