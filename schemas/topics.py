"""The topic catalog: every topic name, its partitions, key, retention and dead-letter topic.

Topic names appear only here. Agency topics are keyed by the seller's primary
identity token; alert topics by case id; every consumed topic has ``dlq.<topic>``.

Agency topics are per agency: ``agency.<code lower>.<kind>.v1`` (``agency.qltt.violations.v1``),
one per event type an agency publishes and agency of the registry; the payment-block request
topic exists only for the agencies the registry allows to request blocks. Each agency's
principal may write only its own (a prefix ACL ``agency.<code lower>.``, see
``agencybus.acl``), so the broker itself binds who wrote a record to the agency whose topic it
is on; consumers then refuse a record whose ``header.agency`` names another agency
(:func:`check_claim`). Why per-agency topics rather than signing every event: docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import event_types as et

DAY_MS = 24 * 3600 * 1000
AGENCY_PREFIX = "agency."


@dataclass(frozen=True)
class Topic:
    name: str
    event_type: et.EventType | None
    key: str
    description: str
    retention_ms: int = 400 * DAY_MS  # a year plus the reporting season
    cleanup_policy: str = "delete"
    partitions: int | None = None  # None: the settings' topic_partitions
    extra_config: dict[str, str] = field(default_factory=dict)
    agency: str | None = None  # the agency whose topic this is (agency topics only)

    @property
    def dlq(self) -> str:
        return dead_letter_topic(self.name)


def dead_letter_topic(topic: str) -> str:
    return f"dlq.{topic}"


class ClaimMismatch(ValueError):
    """A record on one agency's topic claims (``header.agency``) to come from another agency."""


def agency_kinds() -> dict[str, str]:
    """The kinds of agency topic, by event type key (agency.<code lower>.<kind>.v1): from the descriptors."""
    return {t.key: t.topic for t in et.agency_topic_types()}


def _kind_type(kind: str) -> et.EventType | None:
    return next((t for t in et.agency_topic_types() if t.topic == kind), None)


def _base_topic(etype: et.EventType) -> Topic:
    return Topic(etype.topic, etype, etype.topic_key, etype.description)


PAYMENT_BLOCK_STATUS = _base_topic(et.PAYMENT_BLOCK_STATUS)
ALERTS_ALL = _base_topic(et.JOINT_CASE_ALERT)
CASE_UPDATES = _base_topic(et.CASE_UPDATE)
PLATFORM_PREFIX = "platform."
# Which processors namespace (app id) is the active one: written by `agencybus rebuild --apply`,
# read by `agencybus process` when no --app-id is given. One JSON record under the key "active".
PROCESSORS_NAMESPACE = Topic(
    "processors.namespace.v1",
    None,
    "constant",
    "The processors' active namespace (set by agencybus rebuild --apply)",
    cleanup_policy="compact",
    partitions=1,
)


def agency_topic_prefix(agency: str) -> str:
    """What every topic of one agency starts with (the name of its prefix ACL)."""
    return f"{AGENCY_PREFIX}{agency.lower()}."


def _event_type(event_type: et.EventType | str) -> et.EventType:
    return event_type if isinstance(event_type, et.EventType) else et.by_key(event_type)


def agency_topic(event_type: et.EventType | str, agency: str) -> Topic:
    """The topic ``agency`` publishes events of ``event_type`` to (``agency.qltt.violations.v1``).

    Raises KeyError for a type agencies do not publish, an agency the registry does not know, or a
    payment-block request from an agency the registry does not allow to request blocks.
    """
    etype = _event_type(event_type)
    if not etype.agency_event:
        raise KeyError(
            f"agencies do not publish {etype.record_name}; agency topics carry {list(agency_kinds())}"
        )
    from schemas import reference

    registry = reference.agencies()
    if agency not in registry:
        raise KeyError(f"unknown agency {agency!r}; the agency registry has {sorted(registry)}")
    if not etype.may_publish(registry[agency]):
        allowed = sorted(code for code, a in registry.items() if etype.may_publish(a))
        what = etype.authority or f"publish {etype.key} events"
        why = f"agency registry: {etype.agency_flag}" if etype.agency_flag else "its descriptor's agencies"
        raise KeyError(f"{agency} may not {what} ({why}); agencies that may: {allowed}")
    return _agency_topic(etype, agency)


def _agency_topic(etype: et.EventType, agency: str) -> Topic:
    return Topic(
        f"{agency_topic_prefix(agency)}{etype.topic}.v{etype.major}",
        etype,
        etype.topic_key,
        f"{etype.description} of {agency}",
        agency=agency,
    )


def agency_topics(event_type: et.EventType | str | None = None) -> list[Topic]:
    """Every agency topic of the registry in use (of one event type if given), by agency then kind."""
    from schemas import reference

    wanted = None if event_type is None else _event_type(event_type).key
    found = []
    for code, agency in sorted(reference.agencies().items()):
        for etype in et.agency_topic_types():
            if (wanted is None or etype.key == wanted) and etype.may_publish(agency):
                found.append(_agency_topic(etype, code))
    return found


def find_agency_topic(name: str) -> Topic | None:
    """The agency topic called ``name`` (with its agency and event type), or None if it is not one.

    Only the name's shape is read (``agency.<code>.<kind>.v<major>``), not the registry: a consumer
    must recognise whose topic a record is on even for an agency added since it started.
    """
    parts = name.split(".")
    if len(parts) != 4 or parts[0] != AGENCY_PREFIX.rstrip(".") or not parts[1]:
        return None
    etype = _kind_type(parts[2])
    if etype is None or parts[3] != f"v{etype.major}":
        return None
    return _agency_topic(etype, parts[1].upper())


def platform_answer_topic(platform: str) -> Topic:
    """The topic a platform writes its signed answers to (``platform.shopee.takedown-answers.v1``)."""
    code = platform.upper()
    etype = et.TAKEDOWN_ANSWER
    return Topic(
        f"{platform_topic_prefix(code)}{etype.topic}.v{etype.major}",
        etype,
        etype.topic_key,
        f"{etype.description} of {code}",
        agency=code,
    )


def platform_topic_prefix(platform: str) -> str:
    """What every topic of one platform starts with (the name of its prefix ACL)."""
    return f"{PLATFORM_PREFIX}{platform.lower()}."


def platform_answer_topics() -> list[Topic]:
    """The answer topic of every platform of the platform registry."""
    from schemas.platforms import platform_codes

    return [platform_answer_topic(code) for code in sorted(platform_codes())]


def find_platform_topic(name: str) -> Topic | None:
    """The platform answer topic called ``name`` (with its platform), or None if it is not one."""
    parts = name.split(".")
    if len(parts) != 4 or parts[0] != PLATFORM_PREFIX.rstrip(".") or not parts[1]:
        return None
    if parts[2] != et.TAKEDOWN_ANSWER.topic or parts[3] != f"v{et.TAKEDOWN_ANSWER.major}":
        return None
    return platform_answer_topic(parts[1])


def check_claim(topic: str, claimed_agency: str) -> None:
    """Raise ClaimMismatch when a record on an agency (or platform) topic names another writer in
    header.agency.

    The broker lets only the agency (and the gateway that authenticates it) write its topics, and
    only a platform its answer topic, so the topic says who wrote the record; a record that claims
    otherwise is forged or misrouted.
    """
    owner = find_agency_topic(topic) or find_platform_topic(topic)
    if owner is not None and owner.agency != claimed_agency:
        raise ClaimMismatch(
            f"header.agency is {claimed_agency!r} but the record is on {topic}, which only "
            f"{owner.agency} may write: refused as a false claim of origin"
        )


def alert_topic_name(agency: str) -> str:
    """Per-agency alert topic (``alerts.<agency>.v1``), lower-case agency code."""
    return f"alerts.{agency.lower()}.v1"


def topic_for(event_type_key: str, agency: str | None = None) -> Topic:
    """The topic an event type is published to; agency events need the publishing agency.

    Alerts: the steering committee's ``alerts.all.v1``.
    """
    if event_type_key in agency_kinds():
        if agency is None:
            raise KeyError(f"{event_type_key} events go to the publishing agency's topic: name the agency")
        return agency_topic(event_type_key, agency)
    for t in base_topics():
        if t.event_type is not None and t.event_type.key == event_type_key:
            return t
    if event_type_key == et.TAKEDOWN_ANSWER.key:
        if agency is None:
            raise KeyError("takedown answers go to the answering platform's topic: name the platform")
        return platform_answer_topic(agency)
    raise KeyError(f"no topic for event type {event_type_key!r}")


def topic_name_pattern(event_type_key: str) -> str:
    """The topic name of an event type for people (``agency.<agency>.violations.v1`` for agency events)."""
    kind = agency_kinds().get(event_type_key)
    if kind is not None:
        return f"{AGENCY_PREFIX}<agency>.{kind}.v{et.BY_KEY[event_type_key].major}"
    if event_type_key == et.TAKEDOWN_ANSWER.key:
        return f"{PLATFORM_PREFIX}<platform>.{et.TAKEDOWN_ANSWER.topic}.v{et.TAKEDOWN_ANSWER.major}"
    return topic_for(event_type_key).name


def base_topics() -> list[Topic]:
    """The topics that are not per agency, one per descriptor of a type the bus's roles publish."""
    return [_base_topic(t) for t in et.all_types() if not t.per_publisher]


def agency_alert_topics(agency_codes: list[str]) -> list[Topic]:
    return [
        Topic(alert_topic_name(code), et.JOINT_CASE_ALERT, "case_id", f"Joint-case alerts routed to {code}")
        for code in agency_codes
    ]


def all_topics(agency_codes: list[str]) -> list[Topic]:
    """Every topic of the bus including DLQs.

    ``agency_codes`` are the agencies with an alert topic; the agency topics come from the agency
    registry (reference data).
    """
    main = agency_topics() + base_topics() + platform_answer_topics() + agency_alert_topics(agency_codes)
    dlqs = [
        Topic(t.dlq, None, "source key", f"Dead letters of {t.name}", retention_ms=30 * DAY_MS) for t in main
    ]
    return main + dlqs
