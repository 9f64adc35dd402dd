"""Taking the listening address, alone unless told to share it.

grpcio sets SO_REUSEPORT on its listeners by default: a second server on the
same address then starts without error, and the kernel hands each new
connection to one of the two at random. Cronstream turns the option off, so
that binding an address in use fails, and says so in words; an operator who
wants several processes on one port (CRONSTREAM_REUSE_PORT=1) turns it back on
in each of them.
"""

from __future__ import annotations

import errno
import socket

import grpc

IN_USE = (
    "the address is in use (another Cronstream?); "
    "set CRONSTREAM_LISTEN, or CRONSTREAM_REUSE_PORT=1 to share it on purpose"
)
IN_USE_UNSHARED = (
    "the address is in use by a process that does not share it "
    "(CRONSTREAM_REUSE_PORT=1 shares only with processes that set it too)"
)


class CannotListen(Exception):
    """The server cannot take its address; the message says why and what to do."""


def socket_options(reuse_port: bool) -> list[tuple[str, int]]:
    return [("grpc.so_reuseport", int(reuse_port))]


def bind(
    server: grpc.aio.Server,
    address: str,
    credentials: grpc.ServerCredentials | None,
    reuse_port: bool,
) -> int:
    """Adds the listening port (TLS when `credentials`); its number.

    Raises CannotListen when the address is taken. gRPC alone misses one case:
    a name that resolves to several addresses (`localhost`: 127.0.0.1 and ::1)
    of which only some are taken still binds the free ones, with a warning on
    stderr; so each address is tried first."""
    check_free(address, reuse_port)
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:  # grpc.aio raises where the sync server returns 0
        port = 0
    if port == 0:
        raise CannotListen(f"cannot listen on {address}: {_why(address, reuse_port)}")
    return port


def check_free(address: str, reuse_port: bool) -> None:
    """Raises CannotListen when a process listens on `address` already, unless sharing."""
    if not reuse_port and any(_in_use(error) for error in _bind_errors(address)):
        raise CannotListen(f"cannot listen on {address}: {IN_USE}")


def _why(address: str, reuse_port: bool) -> str:
    """What stopped gRPC: gRPC itself only logs it, so bind again to see."""
    errors = _bind_errors(address)
    if any(_in_use(error) for error in errors):
        return IN_USE_UNSHARED if reuse_port else IN_USE
    if errors:
        return errors[0].strerror or str(errors[0])
    return "gRPC could not bind it (GRPC_VERBOSITY=debug says why)"


def _bind_errors(address: str) -> list[OSError]:
    """The errors from binding, and closing at once, a socket on each address
    `address` resolves to, set as gRPC sets its listeners (SO_REUSEADDR, so a
    port whose old connections linger in TIME_WAIT counts as free)."""
    host_port = _host_port(address)
    if host_port is None:
        return []  # unix:, or a form gRPC parses and we need not
    host, port = host_port
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        return [error]
    errors: list[OSError] = []
    for family, kind, proto, _, sockaddr in found:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(sockaddr)
        except OSError as error:
            errors.append(error)
    return errors


def _host_port(address: str) -> tuple[str | None, int] | None:
    """("host", port) from "host:port", "[v6]:port" or ":port" (any host);
    None for port 0 (always free) and for what is not of that form."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or int(port) == 0 or "/" in host:
        return None
    host = host.removeprefix("[").removesuffix("]")
    return (host or None), int(port)


def _in_use(error: OSError) -> bool:
    return error.errno == errno.EADDRINUSE
