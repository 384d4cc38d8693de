"""Free loopback ports for the tests' servers (no other imports: the fault harness runs without pytest)."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


_EPHEMERAL_LOW = _ephemeral_low()
_PICK = random.SystemRandom()  # not the global generator: a test that seeds it must not align workers


def free_port() -> int:
    """A free loopback port below the ephemeral range.

    Not one the kernel hands out (``bind(0)``): between this call and the server's bind, any other
    process's outgoing connection can be given the same ephemeral port as its local end (seen under
    ``-n 2``: a flood test's hundreds of client sockets took a simulator's port). Ports below the
    range are only ever taken by an explicit bind, so a random free one stays free.
    """
    for _ in range(200):
        port = _PICK.randrange(10000, _EPHEMERAL_LOW)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the range is full: fall back to the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
