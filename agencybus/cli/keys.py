"""``agencybus keys``: create and list the Ed25519 keys that sign payment-block requests and replies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agencybus.settings import load_settings
from agencybus.signing import Keyring, SigningError, generate_keypair, key_id_of, load_private_key

app = typer.Typer(
    help="Signing keys: an agency signs its payment-block requests, the State Bank branch its replies.",
    no_args_is_help=True,
)

KeysDir = Annotated[
    Path | None,
    typer.Option("--keys-dir", help="Keys directory (default: AGENCYBUS_KEYS_DIR or <data_dir>/keys)."),
]


@app.command("generate")
def generate(
    agency: Annotated[str, typer.Option("--agency", help="Signer code, e.g. CA, QLTT or the bank branch.")],
    keys_dir: KeysDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing key pair of this signer.")
    ] = False,
) -> None:
    """Write a new Ed25519 key pair: private/<AGENCY>.pem (mode 0600) and keyring/<AGENCY>.pub."""
    directory = keys_dir or load_settings().resolved_keys_dir
    try:
        private_path, public_path = generate_keypair(agency, directory, overwrite=force)
    except SigningError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    key_id = key_id_of(agency, load_private_key(private_path).public_key())
    typer.echo(f"private key: {private_path} (keep it on this host only, mode 0600)")
    typer.echo(f"public key:  {public_path} (copy it into the keyring of every verifier)")
    typer.echo(f"key id:      {key_id}")


@app.command("list")
def list_keys(keys_dir: KeysDir = None) -> None:
    """List the public keys in the keyring (signer and key id)."""
    directory = keys_dir or load_settings().resolved_keys_dir
    try:
        ring = Keyring.load(directory)
    except SigningError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if not ring.signers:
        typer.echo(f"no public keys under {directory}")
        return
    for signer in ring.signers:
        for key_id in sorted(ring.keys[signer]):
            typer.echo(f"{signer}\t{key_id}")
