"""Is a TCP address free to listen on? For the command line: name a busy port in one line before
starting anything, and let the demo move to free ports."""

from __future__ import annotations

import errno
import socket


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port`` (binding fails with EADDRINUSE).

    Binds the way asyncio's servers do (``SO_REUSEADDR``), so a port in TIME_WAIT counts as free.
    Port 0 is never in use; an address that cannot be bound for another reason (not local, no such
    interface) is left to the real start to report.
    """
    if port == 0:
        return False
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def busy_message(host: str, port: int, what: str) -> str:
    return f"cannot listen on {host}:{port} ({what}): address already in use"
