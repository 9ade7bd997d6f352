"""Ed25519 signatures over the canonical Avro body of signed requests and their answers.

Signed: payment-block requests (by the agency) and the bank's replies, takedown requests (by the
agency) and the platforms' answers.

Why the Avro body: it is the exact bytes on the wire (minus the single-object header), so a
signature made by the issuing agency survives any transport and any JSON round trip, and a
verifier needs nothing but the message and the signer's public key. The body is encoded with
``signature`` set to empty bytes; ``signing_key_id`` is part of what is signed, so a signature
cannot be replayed under another key id. A verifier re-encodes with the WRITER schema named by
the message fingerprint, so messages written by an older schema version still verify.

Layout of a keys directory (``settings.resolved_keys_dir``)::

    private/<SIGNER>.pem     Ed25519 private key, PKCS#8 PEM, mode 0600 (only on the signer's host)
    keyring/<SIGNER>.pub     public key, SubjectPublicKeyInfo PEM (copied to every verifier)
    keyring/<SIGNER>@<tag>.pub   further (older or newer) keys of the same signer, for rotation

A key id is ``<SIGNER>/<first 16 hex of sha256(raw public key)>``, so the id names both who
signed and which of their keys.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas import catalog, codec

PRIVATE_DIR = "private"
KEYRING_DIR = "keyring"


class SigningError(ValueError):
    """A key cannot be created, found or read; the message names the file and the fix."""


class SignatureError(ValueError):
    """A signed message does not verify: unsigned, unknown key, wrong signer, or altered body."""


def private_key_path(keys_dir: Path, signer: str) -> Path:
    return keys_dir / PRIVATE_DIR / f"{signer}.pem"


def public_key_path(keys_dir: Path, signer: str) -> Path:
    return keys_dir / KEYRING_DIR / f"{signer}.pub"


def key_id_of(signer: str, public_key: Ed25519PublicKey) -> str:
    """Key id ``<SIGNER>/<16 hex>``: who signed and with which of their keys."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{signer}/{hashlib.sha256(raw).hexdigest()[:16]}"


def generate_keypair(agency: str, keys_dir: Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new Ed25519 pair for ``agency``: private key (0600) and its public key in the keyring.

    Refuses to replace an existing private key unless ``overwrite``: requests signed with the
    old key would stop verifying wherever the new public key replaces the old one.
    """
    if not agency or "/" in agency or agency.startswith("."):
        raise SigningError(f"expected an agency code such as 'CA', found {agency!r}")
    private_path = private_key_path(keys_dir, agency)
    public_path = public_key_path(keys_dir, agency)
    if private_path.exists() and not overwrite:
        raise SigningError(
            f"a private key for {agency} already exists at {private_path}; "
            "use --force to replace it (requests signed with the old key will then fail to verify "
            "wherever the keyring gets the new public key)"
        )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(private_path.parent, 0o700)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = private_path.with_suffix(".pem.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(tmp, 0o600)
    os.replace(tmp, private_path)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PEM Ed25519 private key; the error says which file and what was wrong."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"private key file {path} does not exist") from None
    except OSError as exc:
        raise SigningError(f"cannot read private key file {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} holds a {type(key).__name__}, expected an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a PEM Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SigningError(f"cannot read public key file {path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path} holds a {type(key).__name__}, expected an Ed25519 public key")
    return key


def load_signer(keys_dir: Path, signer: str) -> tuple[Ed25519PrivateKey, str]:
    """The signer's private key and its key id; the error names the file and the command that creates it."""
    path = private_key_path(keys_dir, signer)
    if not path.exists():
        raise SigningError(
            f"no private key for {signer}: looked for {path}; create one with "
            f"`agencybus keys generate --agency {signer}` (and give keyring/{signer}.pub to the verifiers)"
        )
    key = load_private_key(path)
    return key, key_id_of(signer, key.public_key())


@dataclass
class Keyring:
    """Public keys of every signer a verifier trusts, by signer and by key id."""

    keys: dict[str, dict[str, Ed25519PublicKey]] = field(default_factory=dict)  # signer -> key_id -> key

    @classmethod
    def load(cls, directory: Path) -> Keyring:
        """Load ``*.pub`` files from a keyring directory (or from ``<keys dir>/keyring``)."""
        if (directory / KEYRING_DIR).is_dir():
            directory = directory / KEYRING_DIR
        ring = cls()
        if not directory.is_dir():
            return ring
        for path in sorted(directory.glob("*.pub")):
            signer = path.stem.split("@", 1)[0]
            ring.add(signer, load_public_key(path))
        return ring

    def add(self, signer: str, key: Ed25519PublicKey) -> str:
        key_id = key_id_of(signer, key)
        self.keys.setdefault(signer, {})[key_id] = key
        return key_id

    @property
    def signers(self) -> list[str]:
        return sorted(self.keys)

    def public_key(self, agency: str, key_id: str | None = None) -> Ed25519PublicKey:
        """The signer's key (the one with ``key_id`` if given); SignatureError if unknown."""
        by_id = self.keys.get(agency)
        if not by_id:
            known = ", ".join(self.signers) or "none"
            raise SignatureError(
                f"no public key for signer {agency!r} in the keyring (signers known: {known})"
            )
        if key_id is None:
            return next(iter(by_id.values()))
        try:
            return by_id[key_id]
        except KeyError:
            raise SignatureError(
                f"signing key id {key_id!r} is not a key of {agency!r} in the keyring "
                f"(its keys: {', '.join(sorted(by_id))})"
            ) from None


def _unsigned(record: Mapping[str, Any]) -> dict[str, Any]:
    copy = dict(record)
    copy["signature"] = b""
    return copy


def sign_record(
    record: Mapping[str, Any], record_name: str, key: Ed25519PrivateKey, key_id: str
) -> dict[str, Any]:
    """A copy of ``record`` with ``signing_key_id`` and an Ed25519 ``signature`` over its Avro body.

    The body is encoded with the newest schema version of ``record_name`` (the version the
    message will be written with) and ``signature`` empty.
    """
    version = catalog.latest(record_name)
    field_names = {f["name"] for f in version.schema["fields"]}
    if not {"signature", "signing_key_id"} <= field_names:
        raise SigningError(f"{record_name} has no signature fields; only signed event types can be signed")
    unsigned = dict(record)
    unsigned["signing_key_id"] = key_id
    unsigned["signature"] = b""
    unsigned["signature"] = key.sign(codec.encode_body(unsigned, version))
    return unsigned


def signed_message(
    record: Mapping[str, Any], record_name: str, key: Ed25519PrivateKey, key_id: str
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Sign ``record`` and encode it for Kafka: the Avro single-object value and its CloudEvents headers."""
    from schemas.event_types import BY_RECORD

    signed = sign_record(record, record_name, key, key_id)
    return codec.encode(signed, record_name), codec.cloudevent_headers(BY_RECORD[record_name], signed)


def verify_record(
    record: Mapping[str, Any], version: catalog.SchemaVersion, keyring: Keyring, signer: str
) -> None:
    """Check the signature of a decoded record as written with ``version``; SignatureError if not valid."""
    signature = record.get("signature") or b""
    key_id = record.get("signing_key_id") or ""
    what = f"{version.record_name} {record.get('header', {}).get('event_id', '?')}"
    if not signature:
        raise SignatureError(f"{what} is not signed (empty signature); {signer} must sign it")
    keyring.public_key(signer)  # an unknown signer is reported as such, before any key id check
    if not key_id.startswith(f"{signer}/"):
        raise SignatureError(f"{what} is signed with key {key_id!r}, which is not a key of {signer!r}")
    public = keyring.public_key(signer, key_id)
    body = codec.encode_body(_unsigned(record), version)
    try:
        public.verify(bytes(signature), body)
    except InvalidSignature:
        raise SignatureError(
            f"{what}: signature does not verify with {signer}'s key {key_id} "
            "(the message was altered after signing, or signed with another key)"
        ) from None


def verify_message(value: bytes, keyring: Keyring, signer: str) -> None:
    """Verify a signed Kafka message value (Avro single-object) as signed by ``signer``.

    Re-encodes the body with the writer schema found from the message fingerprint, and refuses a
    body that is not that encoding byte for byte: some altered bytes decode to the same record
    (fastavro reads a negative enum index as Python's negative list index, so ``03`` reads as the
    same symbol as ``02`` two places before the end), and what the signer signed is the canonical
    encoding of the content, not any bytes that decode to it. Avro's standard (single-block)
    encoders write that canonical form.
    Raises SignatureError (or schemas.codec.CodecError for undecodable bytes).
    """
    writer, record = codec.read_writer(value)
    if codec.encode_body(record, writer) != bytes(value[codec.HEADER_LEN :]):
        what = f"{writer.record_name} {record.get('header', {}).get('event_id', '?')}"
        raise SignatureError(
            f"{what}: the body is not the canonical Avro encoding of its own content (bytes altered)"
        )
    verify_record(record, writer, keyring, signer)


def signature_failure(verify: Callable[[], None], signer: str, key_id: str) -> str | None:
    """Run a signature check; None when it verifies, else the sentence a refusal gives (its cause named)."""
    try:
        verify()
    except Exception as exc:
        return (
            f"The Ed25519 signature does not verify against the public key of agency {signer!r} "
            f"(signing_key_id {key_id!r}): {exc}. The request may be forged or altered."
        )
    return None


__all__ = [
    "Keyring",
    "SignatureError",
    "SigningError",
    "generate_keypair",
    "key_id_of",
    "load_private_key",
    "load_public_key",
    "load_signer",
    "private_key_path",
    "public_key_path",
    "sign_record",
    "signature_failure",
    "signed_message",
    "verify_message",
    "verify_record",
]
