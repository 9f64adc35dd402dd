"""The server's TLS: certificate, key and client CA, re-read while serving.

gRPC asks a fetcher for the certificate configuration at each new TLS
handshake. `CertificateReloader` answers with the files' newest good content
when their stamps (size, mtime, inode) changed since it last looked, which a
rename into place or a Kubernetes secret's symlink swap also changes, and with
None ("keep yours") otherwise. Connections already open keep the TLS session
they negotiated, so their streams go on undisturbed; only new handshakes see a
new certificate. SIGHUP (`reload`) re-reads the files whatever their stamps.

Content that does not load (a file cut short mid-write, a key that does not
match its certificate, a missing file) is reported once as a warning, and the
last good content stays in service; only at start does it stop the server,
which then has nothing to fall back on.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import grpc

from cronstream_server.config import Settings

log = logging.getLogger(__name__)

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
PEM_END = "-----END CERTIFICATE-----"

# A file's (device, inode, size, mtime in ns); None while it cannot be stat'ed.
Stamp = tuple[tuple[int, int, int, int] | None, ...]


class TlsFilesError(ValueError):
    """The TLS settings or files cannot be served; the message says which and why."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TlsFiles | None:
        """The files to serve TLS with; None for plaintext. Half a setting is an
        error rather than plaintext: a server meant to be private must not quietly
        serve in the clear."""
        cert, key, client_ca = settings.tls_cert, settings.tls_key, settings.tls_client_ca
        if cert is None and key is None:
            if client_ca is not None:
                raise TlsFilesError(
                    "CRONSTREAM_TLS_CLIENT_CA needs CRONSTREAM_TLS_CERT and CRONSTREAM_TLS_KEY"
                )
            return None
        if cert is None or key is None:
            raise TlsFilesError("set both CRONSTREAM_TLS_CERT and CRONSTREAM_TLS_KEY, or neither")
        return cls(cert=cert, key=key, client_ca=client_ca)

    def paths(self) -> tuple[Path, ...]:
        return (
            (self.cert, self.key)
            if self.client_ca is None
            else (self.cert, self.key, self.client_ca)
        )

    def stamp(self) -> Stamp:
        return tuple(_stamp(path) for path in self.paths())


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """One checked read of the files."""

    cert_chain: bytes
    key: bytes
    client_ca: bytes | None

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self.key, self.cert_chain)], root_certificates=self.client_ca
        )

    def describe(self) -> str:
        """The first certificate's SHA-256 fingerprint, as
        `openssl x509 -noout -fingerprint -sha256` prints it."""
        text = self.cert_chain.decode("ascii", "replace")
        try:
            begin = text.index(PEM_BEGIN)
            end = text.index(PEM_END, begin) + len(PEM_END)
        except ValueError:  # a PEM label OpenSSL also takes ("TRUSTED CERTIFICATE")
            return f"certificate file sha256 {hashlib.sha256(self.cert_chain).hexdigest()}"
        digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(text[begin:end])).hexdigest().upper()
        return "certificate sha256 " + ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def read_checked(files: TlsFiles) -> TlsMaterial:
    """The files' content, checked as a TLS server loads it.

    Python's ssl module checks a certificate and its key from their paths
    only, so the bytes are read before and after the check and must be the
    same: what was checked is then what gRPC gets."""
    material = _read(files)
    _check(files, material)
    if _read(files) != material:
        raise TlsFilesError("the files changed while being read (mid-write?)")
    return material


class CertificateReloader:
    """Hands gRPC the files' newest good content at new handshakes.

    `_fetch` runs on gRPC's threads, one call per handshake, and `reload` on
    the event loop (SIGHUP); one lock keeps their reads and the handover in
    order. Reads are of a few small files, and rare: only when stamps change."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._lock = threading.Lock()
        # Stamped before reading: a change during the read is seen at the next handshake.
        self._stamp = files.stamp()
        try:
            self._current = read_checked(files)
        except TlsFilesError as error:
            raise TlsFilesError(f"cannot serve TLS: {error}") from None
        self._pending: TlsMaterial | None = None
        log.info("TLS: serving %s%s", self._current.describe(), self._clients())

    def credentials(self) -> grpc.ServerCredentials:
        # gRPC documents None from the fetcher as "unchanged"; its stubs do not.
        fetcher = cast(Callable[[], grpc.ServerCertificateConfiguration], self._fetch)
        return grpc.dynamic_ssl_server_credentials(
            self._current.configuration(),
            fetcher,
            require_client_authentication=self.files.client_ca is not None,
        )

    def reload(self, reason: str = "SIGHUP") -> bool:
        """Re-reads the files now, whatever their stamps; whether new content
        was taken (for new handshakes)."""
        with self._lock:
            return self._load(self.files.stamp(), reason)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            with self._lock:
                stamp = self.files.stamp()
                if stamp != self._stamp:
                    self._load(stamp, "the files changed")
                pending, self._pending = self._pending, None
        except Exception:  # gRPC would log it and keep its configuration; say why
            log.exception("TLS: looking for new certificate files failed")
            return None
        return None if pending is None else pending.configuration()

    def _load(self, stamp: Stamp, reason: str) -> bool:
        # Recorded even when the content is bad, so it is reported once, not
        # at every handshake; a later change (or SIGHUP) tries again.
        self._stamp = stamp
        try:
            material = read_checked(self.files)
        except TlsFilesError as error:
            log.warning("TLS: %s: %s; still serving %s", reason, error, self._current.describe())
            return False
        if material == self._current:
            log.info("TLS: %s: unchanged, still serving %s", reason, material.describe())
            return False
        self._current = self._pending = material
        log.info("TLS: %s: now serving %s%s", reason, material.describe(), self._clients())
        return True

    def _clients(self) -> str:
        ca = self.files.client_ca
        return "" if ca is None else f", client certificates signed by {ca} required"


def _read(files: TlsFiles) -> TlsMaterial:
    def read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as error:
            raise TlsFilesError(f"cannot read {path}: {error.strerror}") from None

    client_ca = None if files.client_ca is None else read(files.client_ca)
    return TlsMaterial(cert_chain=read(files.cert), key=read(files.key), client_ca=client_ca)


def _check(files: TlsFiles, material: TlsMaterial) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert, files.key, password=_no_password)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise TlsFilesError(
            f"{files.cert} and {files.key} are not a PEM certificate and its key: {error}"
        ) from None
    if material.client_ca is None:
        return
    try:
        context.load_verify_locations(cadata=material.client_ca.decode("ascii"))
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise TlsFilesError(
            f"{files.client_ca} is not a PEM bundle of CA certificates: {error}"
        ) from None


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise ValueError("the key is encrypted; gRPC needs it unencrypted")


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def reloader_for(settings: Settings) -> CertificateReloader | None:
    """The reloader for the configured files, loaded and checked; None for plaintext."""
    files = TlsFiles.from_settings(settings)
    return None if files is None else CertificateReloader(files)
