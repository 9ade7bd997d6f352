"""``agencybus acl apply``: make the cluster's SCRAM users and ACL bindings match the plan.

Reconciled the way Strimzi's user operator reconciles ``KafkaUser`` resources: every run
compares the cluster with the plan (``agencybus.acl``), creates what is missing and deletes
the bindings the plan no longer has, so running it twice changes nothing the second time.
It manages the principals of the plan and those it created before (a ``<name>.env`` in the
credentials directory): a principal that left the plan (an agency removed from the
registry) loses its bindings and its credential, and its file becomes ``<name>.env.removed``.
Other principals' bindings (the admin's, another tool's) are never touched.

Credentials: a principal's password is generated once, written to ``<dir>/<name>.env``
(``AGENCYBUS_SASL_USERNAME`` / ``AGENCYBUS_SASL_PASSWORD``, mode 0600, created exclusively)
before the broker learns it, and never printed or logged. A file already there is reused
(a rebuilt cluster gets the same passwords back); a user that has a credential on the
cluster but no file here is left alone and reported, never silently re-keyed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError
from pydantic import SecretStr

from agencybus import acl
from agencybus.logging import get_logger
from agencybus.scram_logins import LoginsRefused, wait_for_logins
from agencybus.settings import Settings

log = get_logger(__name__)

MECHANISM = ScramMechanism.SCRAM_SHA_512
NEVER_MANAGED = frozenset({"admin"})  # the cluster admin (a super user) that runs apply


class AclApplyError(RuntimeError):
    """The cluster refused part of the plan; the message names what and why."""


@dataclass
class ApplyResult:
    """What one reconciliation did (names only: never a password)."""

    users_created: list[str] = field(default_factory=list)
    users_without_file: list[str] = field(default_factory=list)
    users_removed: list[str] = field(default_factory=list)
    bindings_created: list[acl.Binding] = field(default_factory=list)
    bindings_deleted: list[str] = field(default_factory=list)  # as the cluster had them
    bindings_unchanged: int = 0


def credentials_file(directory: Path, principal: str) -> Path:
    return directory / f"{principal}.env"


def read_password(path: Path) -> str:
    """The password in a credentials file written by :func:`write_credentials`."""
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if name == "AGENCYBUS_SASL_PASSWORD":
            return value
    raise AclApplyError(f"{path}: no AGENCYBUS_SASL_PASSWORD line")


def write_credentials(path: Path, principal: str, password: str) -> None:
    """Write a principal's settings once, readable by the owner only (fails if the file exists)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            f"AGENCYBUS_SECURITY_PROTOCOL=SASL_SSL\nAGENCYBUS_SASL_MECHANISM=SCRAM-SHA-512\n"
            f"AGENCYBUS_SASL_USERNAME={principal}\nAGENCYBUS_SASL_PASSWORD={password}\n"
        )


# --------------------------------------------------------------------------- plan <-> kafka-python

_RESOURCE = {acl.Resource.TOPIC: ResourceType.TOPIC, acl.Resource.GROUP: ResourceType.GROUP}
_PATTERN = {
    acl.Pattern.LITERAL: ACLResourcePatternType.LITERAL,
    acl.Pattern.PREFIXED: ACLResourcePatternType.PREFIXED,
}
_PERMISSION = {acl.Permission.ALLOW: ACLPermissionType.ALLOW, acl.Permission.DENY: ACLPermissionType.DENY}


def to_kafka(binding: acl.Binding) -> ACL:
    return ACL(
        principal=f"User:{binding.principal}",
        host="*",
        operation=ACLOperation[binding.operation.value],
        permission_type=_PERMISSION[binding.permission],
        resource_pattern=ResourcePattern(
            _RESOURCE[binding.resource], binding.name, _PATTERN[binding.pattern]
        ),
    )


def _key(a: ACL) -> tuple[str, str, int, int, int, int, str]:
    rp = a.resource_pattern
    return (
        a.principal,
        a.host,
        int(a.operation),
        int(a.permission_type),
        int(rp.resource_type),
        int(rp.pattern_type),
        rp.resource_name,
    )


def describe(a: ACL) -> str:
    """A cluster binding in the plan's column order (for what ``apply`` deleted)."""
    rp = a.resource_pattern
    return " ".join(
        (a.principal.removeprefix("User:"), rp.resource_type.name, rp.resource_name, rp.pattern_type.name,
         a.operation.name, a.permission_type.name)
    )  # fmt: skip


def _failed(error: object) -> bool:
    """kafka-python answers with an error class; NoError's errno is 0."""
    return bool(getattr(error, "errno", 0))


def cluster_acls(admin: KafkaAdminClient) -> list[ACL]:
    """Every ACL binding the cluster has."""
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    found, error = admin.describe_acls(everything)
    if _failed(error):
        raise AclApplyError(f"cannot list the cluster's ACLs: {error}")
    return list(found)


# --------------------------------------------------------------------------- users


def ensure_users(
    admin: KafkaAdminClient, principals: Sequence[acl.Principal], credentials_dir: Path, result: ApplyResult
) -> None:
    """Give every principal a SCRAM-SHA-512 credential; its password goes to its file, nowhere else."""
    described = admin.describe_user_scram_credentials()
    has_credential = {
        user
        for user, info in described.items()
        if any(ci["mechanism"] == MECHANISM for ci in info["credential_infos"])
    }
    upserts = []
    for p in principals:
        path = credentials_file(credentials_dir, p.name)
        if p.name in has_credential:
            if not path.exists():
                result.users_without_file.append(p.name)
            continue
        if path.exists():
            password = read_password(path)  # a rebuilt cluster: the agency keeps its password
        else:
            password = secrets.token_urlsafe(32)
            write_credentials(path, p.name, password)
        upserts.append(UserScramCredentialUpsertion(p.name, MECHANISM, password))
        result.users_created.append(p.name)
    if upserts:
        errors = {user: err for user, err in admin.alter_user_scram_credentials(upserts).items() if err}
        if errors:
            raise AclApplyError(f"the cluster refused SCRAM credentials: {errors}")


# --------------------------------------------------------------------------- reconcile


def managed_principals(plan_principals: Sequence[acl.Principal], credentials_dir: Path) -> set[str]:
    """The plan's principals and every principal this tool made before (its credentials file)."""
    made = {path.name.removesuffix(".env") for path in credentials_dir.glob("*.env")}
    return ({p.name for p in plan_principals} | made) - NEVER_MANAGED


def remove_users(admin: KafkaAdminClient, names: Sequence[str], credentials_dir: Path) -> None:
    """Delete the credentials of principals that left the plan; their files are kept as ``.removed``."""
    if not names:
        return
    errors = admin.alter_user_scram_credentials([UserScramCredentialDeletion(n, MECHANISM) for n in names])
    refused = {user: err for user, err in errors.items() if err and "not found" not in str(err).lower()}
    if refused:
        raise AclApplyError(f"the cluster refused to delete SCRAM credentials: {refused}")
    for name in names:
        path = credentials_file(credentials_dir, name)
        if path.exists():
            path.rename(path.with_name(path.name + ".removed"))


def reconcile(
    admin: KafkaAdminClient,
    bindings: Sequence[acl.Binding],
    principals: Sequence[acl.Principal],
    credentials_dir: Path,
) -> ApplyResult:
    """Users first (so a binding never names a user without a credential), then bindings both ways."""
    result = ApplyResult()
    managed = {f"User:{name}" for name in managed_principals(principals, credentials_dir)}
    ensure_users(admin, principals, credentials_dir, result)
    wanted = {_key(a): (b, a) for b in bindings for a in [to_kafka(b)]}
    present = {_key(a): a for a in cluster_acls(admin) if a.principal in managed}
    missing = [pair for key, pair in wanted.items() if key not in present]
    extra = [a for key, a in present.items() if key not in wanted]
    result.bindings_unchanged = len(wanted) - len(missing)
    if missing:
        answer = admin.create_acls([a for _, a in missing])
        if answer["failed"]:
            raise AclApplyError(
                f"the cluster refused {len(answer['failed'])} ACL bindings: {answer['failed'][:3]}"
            )
        result.bindings_created = sorted(b for b, _ in missing)
    if extra:
        filters = [
            ACLFilter(a.principal, a.host, a.operation, a.permission_type, a.resource_pattern) for a in extra
        ]
        for _, _, error in admin.delete_acls(filters):
            if _failed(error):
                raise AclApplyError(f"the cluster refused to delete ACL bindings: {error}")
        result.bindings_deleted = sorted(describe(a) for a in extra)
    gone = sorted(name.removeprefix("User:") for name in managed - {f"User:{p.name}" for p in principals})
    remove_users(admin, gone, credentials_dir)
    result.users_removed = gone
    log.info(
        "acl.applied",
        users_created=len(result.users_created),
        users_removed=len(result.users_removed),
        bindings_created=len(result.bindings_created),
        bindings_deleted=len(result.bindings_deleted),
        bindings_unchanged=result.bindings_unchanged,
    )
    return result


def apply_plan(
    admin: KafkaAdminClient, credentials_dir: Path, *, bank_group: str = acl.BANK_GROUP
) -> ApplyResult:
    """Reconcile the cluster with the plan generated from the registry and the catalog now."""
    try:
        return reconcile(admin, acl.plan(bank_group=bank_group), acl.principals(), credentials_dir)
    except KafkaError as exc:
        raise AclApplyError(f"cannot apply the ACL plan: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- credentials reach every broker


def broker_addresses(admin: KafkaAdminClient) -> list[str]:
    """``host:port`` of every registered broker (not only those of the bootstrap list)."""
    try:
        brokers = admin.describe_cluster()["brokers"]
    except KafkaError as exc:
        raise AclApplyError(f"cannot list the cluster's brokers: {type(exc).__name__}: {exc}") from exc
    return sorted(f"{b['host']}:{b['port']}" for b in brokers if not b.get("is_fenced", False))


def wait_until_usable(
    settings: Settings,
    brokers: Sequence[str],
    users: Sequence[str],
    credentials_dir: Path,
    *,
    timeout_s: float = 60.0,
) -> None:
    """Return once every broker authenticates every one of ``users`` with its password.

    A role started right after ``apply`` could meet a broker that has not replayed the new
    credential yet (see ``agencybus.scram_logins``), so apply waits until each broker accepts each.
    """
    passwords = {user: SecretStr(read_password(credentials_file(credentials_dir, user))) for user in users}
    try:
        wait_for_logins(settings, brokers, passwords, timeout_s=timeout_s)
    except LoginsRefused as exc:
        raise AclApplyError(str(exc)) from None
