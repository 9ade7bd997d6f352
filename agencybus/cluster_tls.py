"""A throwaway certificate authority and per-node certificates for the local Kafka cluster.

The local cluster speaks TLS on every listener (clients with SASL/SCRAM, brokers and
controllers with mutual TLS), as production does; its certificates are made here with
``cryptography`` and written as PEM files, which Kafka 4 reads directly
(``ssl.keystore.type=PEM``), so no keytool and no JKS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class NodeStore:
    """Where one node's key and certificate chain are (one PEM file, what Kafka's PEM keystore wants)."""

    name: str
    keystore: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (keys never lie around world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AgencyBus local cluster"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


class ClusterCA:
    """A CA made for one cluster directory; issues node certificates for 127.0.0.1 and localhost."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_path = directory / "ca.pem"
        self._key_path = directory / "ca-key.pem"

    def ensure(self) -> ClusterCA:
        """Create the CA once; later calls reuse it (a restarted cluster keeps trusting its clients)."""
        if self.cert_path.exists() and self._key_path.exists():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name("AgencyBus local cluster CA")
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(self._key_path, _pem_key(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return self

    def issue(self, common_name: str) -> NodeStore:
        """A key and certificate for ``common_name`` (server and client use: the node is both)."""
        ca_key = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        keystore = self.directory / f"{common_name}.pem"
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert_path.read_bytes()
        _write_private(keystore, _pem_key(key) + chain)
        return NodeStore(name=common_name, keystore=keystore)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: the only private-key encoding Kafka's PEM keystore reads.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
