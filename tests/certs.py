"""Certificate authorities and certificates made at run time, for the TLS tests."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, in PEM."""

    cert: x509.Certificate
    key_pem: bytes

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        """As the server logs it (and `openssl x509 -fingerprint -sha256` prints it)."""
        return ":".join(f"{byte:02X}" for byte in self.cert.fingerprint(hashes.SHA256()))

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Key then certificate, each renamed into place, as the docs advise."""
        replace_file(key_path, self.key_pem)
        replace_file(cert_path, self.cert_pem)


class Authority:
    """A self-signed CA that issues server and client certificates."""

    def __init__(self, name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        self.cert = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def server(self, name: str = "cronstream") -> Issued:
        return self._issue(name, ExtendedKeyUsageOID.SERVER_AUTH, LOOPBACK_NAMES)

    def client(self, name: str = "worker") -> Issued:
        return self._issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName(name)])

    def _issue(
        self, name: str, usage: x509.ObjectIdentifier, alt_names: list[x509.GeneralName]
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(_name(name), self.cert.subject, key.public_key())
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return Issued(cert=cert, key_pem=key_pem)


def channel_credentials(
    trusted: Authority, client: Issued | None = None
) -> grpc.ChannelCredentials:
    """Trusts `trusted` alone; presents `client` when given."""
    return grpc.ssl_channel_credentials(
        trusted.cert_pem,
        client.key_pem if client else None,
        client.cert_pem if client else None,
    )


# Each channel its own connection: without this, channels with equal
# arguments may share one, and a test about new handshakes would make none.
OWN_CONNECTION = (("grpc.use_local_subchannel_pool", 1),)


def replace_file(path: Path, data: bytes) -> None:
    staged = path.with_name(path.name + ".new")
    staged.write_bytes(data)
    os.replace(staged, path)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
