"""``agencybus acl``: the cluster's principals and ACL bindings, generated from the registry and catalog."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agencybus import acl
from agencybus.cli.common import console, fail, settings_or_exit

app = typer.Typer(
    help="Kafka principals and ACLs as data: print the plan, or make the cluster match it.",
    no_args_is_help=True,
)


@app.command("plan")
def plan(
    tsv: Annotated[
        bool, typer.Option("--tsv", help="Tab-separated (what deploy/kafka/acl-plan.tsv holds)")
    ] = False,
    bank_group: Annotated[
        str, typer.Option(help="Consumer group of the State Bank service")
    ] = acl.BANK_GROUP,
) -> None:
    """Every binding (principal, resource, name, pattern, operation, permission) the plan makes."""
    bindings = acl.plan(bank_group=bank_group)
    if tsv:
        sys.stdout.write(acl.as_tsv(bindings))
        return
    sys.stdout.write(acl.as_table(bindings))
    users = acl.principals()
    console.print(f"{len(bindings)} bindings for {len(users)} principals", highlight=False)


@app.command("apply")
def apply(
    credentials_dir: Annotated[
        Path, typer.Option(help="Where each new principal's <name>.env (mode 0600) is written once")
    ] = Path("kafka-credentials"),
    bank_group: Annotated[
        str, typer.Option(help="Consumer group of the State Bank service")
    ] = acl.BANK_GROUP,
) -> None:
    """Create the users and bindings the cluster lacks, delete the bindings the plan no longer has.

    Connects with the AGENCYBUS_* settings of the cluster admin (a super user). Only the plan's
    principals and those made before (a <name>.env in the directory) are managed.
    """
    from agencybus.acl_apply import AclApplyError, apply_plan, broker_addresses, wait_until_usable
    from agencybus.kafka import make_admin

    settings = settings_or_exit()
    try:
        admin = make_admin(settings)
    except Exception as exc:
        fail(f"cannot reach the cluster at {settings.bootstrap_servers}: {type(exc).__name__}: {exc}")
    try:
        result = apply_plan(admin, credentials_dir, bank_group=bank_group)
        # a role started right after apply must not meet a broker that does not know its login yet
        wait_until_usable(settings, broker_addresses(admin), result.users_created, credentials_dir)
    except AclApplyError as exc:
        fail(str(exc))
    finally:
        admin.close()
    for name in result.users_created:
        console.print(
            f"user      {name}: credential set, settings in {credentials_dir / name}.env", highlight=False
        )
    for name in result.users_without_file:
        console.print(
            f"warning   {name} has a credential on the cluster but no file in {credentials_dir}",
            highlight=False,
        )
    for name in result.users_removed:
        console.print(f"removed   {name}: no longer in the plan (credential deleted)", highlight=False)
    for b in result.bindings_created:
        console.print(f"created   {' '.join(b.row())}", highlight=False)
    for text in result.bindings_deleted:
        console.print(f"deleted   {text}", highlight=False)
    console.print(
        f"{len(result.users_created)} users created, {len(result.bindings_created)} bindings created, "
        f"{len(result.bindings_deleted)} deleted, {result.bindings_unchanged} unchanged",
        highlight=False,
    )
