"""The API's TCP listener: a bound on open connections and a deadline for request headers.

aiohttp accepts every connection and waits for request headers as long as its keep-alive timeout
(an hour in 3.14), so ~1,000 clients sending headers byte by byte hold ~1,000 file descriptors:
with systemd's limit of 1024 nothing else can open a socket (health checks, the Modbus links).

:class:`LimitedSite` serves the runner's aiohttp ``Server`` like ``web.TCPSite``, but each
connection's protocol is wrapped in a :class:`_Connection` that the :class:`ConnectionGuard`
accounts for:

* at most ``max_connections`` are open. At the limit, a new connection replaces the one that has
  waited longest for its request headers (a slow or idle client); if every connection is busy
  serving a request (e.g. WebSockets), the new one is closed at once.
* a connection must deliver complete request headers within ``header_timeout_s`` of connecting
  or of its previous response (idle keep-alive time counts); otherwise it is closed, with
  ``408 Request Timeout`` if it had sent part of a request. A TLS handshake has the same bound.

"Headers complete" is when aiohttp calls the application's request handler, which the guard
wraps; the connection is busy until the handler returns. The listener accepts one connection at
a time and closes a refused one before the next accept, and ``max_connections`` is lowered to
leave ``RESERVED_DESCRIPTORS`` free under the process's descriptor limit: a flood cannot take the
descriptors the Modbus links and databases need.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import ssl
import time
import weakref
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

LOG = logging.getLogger(__name__)
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
WARN_INTERVAL_S = 10.0
RESERVED_DESCRIPTORS = 64  # kept free for databases, device and broker links, log files


class _Connection(asyncio.Protocol):
    """Forwards every transport event to aiohttp's protocol; tells the guard what happens."""

    def __init__(self, guard: ConnectionGuard, inner: RequestHandler) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.partial = False  # bytes of a request arrived since the connection was last idle
        self.doomed = False  # closed by the guard before it was made (during a TLS handshake)
        self.sock: socket.socket | None = None  # the accepted socket, until the connection is made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.doomed:
            transport.abort()
            return
        self.transport = transport
        self.sock = None
        self.guard.opened(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.partial = True
        self.inner.data_received(data)

    def eof_received(self) -> None:
        self.inner.eof_received()  # None: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        if self.transport is not None:  # not when it was doomed before it was made
            self.transport = None
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """The protocol factory of the listener; also wraps ``server.request_handler`` (once)."""

    def __init__(self, server: web.Server, max_connections: int, header_timeout_s: float) -> None:
        if max_connections < 1 or header_timeout_s <= 0:
            raise ValueError("max_connections must be >= 1 and header_timeout_s > 0")
        self.server = server
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self._live: weakref.WeakSet[_Connection] = weakref.WeakSet()  # incl. TLS handshakes
        self._waiting: dict[_Connection, asyncio.TimerHandle] = {}  # oldest first
        self._by_handler: dict[RequestHandler, _Connection] = {}
        self._warned_at = -WARN_INTERVAL_S
        self.refused = 0  # connections closed at once: the limit was reached, all busy
        self.evicted = 0  # waiting connections closed to make room for a new one
        self.timed_out = 0  # connections closed by the header deadline
        inner = server.request_handler

        async def handler(request: web.BaseRequest) -> web.StreamResponse:
            connection = self._by_handler.get(request.protocol)
            if connection is not None:
                self._busy(connection)
            try:
                return await inner(request)
            finally:
                if connection is not None and connection.transport is not None:
                    self._wait(connection)

        server.request_handler = handler

    @property
    def open_connections(self) -> int:
        return len(self._live)

    def admit(self) -> _Connection | None:
        """The protocol for a new connection, or None to close it (the limit, all busy)."""
        if len(self._live) >= self.max_connections and not self._evict():
            self.refused += 1
            self.warn("limit reached and all connections busy: refused a new one")
            return None
        connection = _Connection(self, self.server())
        self._live.add(connection)
        self._wait(connection)  # the deadline runs from the accept (a TLS handshake counts)
        return connection

    # --- states: waiting for headers, busy serving a request ---------------------------------
    def opened(self, connection: _Connection) -> None:
        self._by_handler[connection.inner] = connection

    def closed(self, connection: _Connection) -> None:
        self._live.discard(connection)
        self._by_handler.pop(connection.inner, None)
        timer = self._waiting.pop(connection, None)
        if timer is not None:
            timer.cancel()

    def _wait(self, connection: _Connection) -> None:
        """From now on the next request's headers must be complete within the deadline."""
        loop = asyncio.get_running_loop()
        old = self._waiting.pop(connection, None)
        if old is not None:
            old.cancel()
        connection.partial = False
        self._waiting[connection] = loop.call_later(self.header_timeout_s, self._deadline, connection)

    def _busy(self, connection: _Connection) -> None:
        timer = self._waiting.pop(connection, None)
        if timer is not None:
            timer.cancel()

    def _deadline(self, connection: _Connection) -> None:
        transport = connection.transport
        self._waiting.pop(connection, None)
        if transport is not None and transport.is_closing():
            return
        if transport is not None and transport.get_write_buffer_size() > 0 and not connection.partial:
            self._wait(connection)  # still sending the previous response to a slow reader
            return
        self.timed_out += 1
        self._close(connection)

    def _evict(self) -> bool:
        """Close the connection that has waited longest for headers; False if none waits."""
        if not self._waiting:
            return False
        connection = next(iter(self._waiting))
        self._waiting.pop(connection).cancel()
        self._live.discard(connection)  # its slot is free now, not when the close completes
        self.evicted += 1
        self.warn("limit reached: closed the connection waiting longest for its headers")
        self._close(connection)
        return True

    @staticmethod
    def _close(connection: _Connection) -> None:
        transport = connection.transport
        if transport is None:  # in its TLS handshake: end that now (the fd is freed as it fails)
            connection.doomed = True
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)
        elif connection.partial:
            transport.write(REQUEST_TIMEOUT)
            transport.close()
        else:
            transport.abort()

    def warn(self, what: str) -> None:
        """Log ``what`` at most once per ``WARN_INTERVAL_S`` (a flood must not flood the log)."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_INTERVAL_S:
            self._warned_at = now
            LOG.warning("API connections (at most %d): %s", self.max_connections, what)


class _Listener(asyncio.AbstractServer):
    """Accepts one connection at a time and asks the guard first: a refused connection's socket is
    closed before the next accept, so a flood never holds more descriptors than the limit allows
    (``loop.create_server`` accepts up to ``backlog`` at once and closes refused ones later)."""

    def __init__(self, sock: socket.socket, guard: ConnectionGuard, ssl_context: Any) -> None:
        self._sock = sock
        self._guard = guard
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._connecting: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = self._loop.create_task(self._accept_loop())

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._task is not None else ()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._task is not None

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self._sock.close()

    async def start_serving(self) -> None:
        return None  # serving from the start

    async def serve_forever(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task})

    async def wait_closed(self) -> None:
        return None

    async def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = await self._loop.sock_accept(self._sock)
            except OSError as exc:  # EMFILE/ENFILE (descriptors used elsewhere), ECONNABORTED
                self._guard.warn(f"accept failed: {exc}")
                await asyncio.sleep(0.1 if exc.errno in (errno.EMFILE, errno.ENFILE) else 0)
                continue
            protocol = self._guard.admit()
            if protocol is None:
                sock.close()
                continue
            protocol.sock = sock
            task = self._loop.create_task(self._connect(sock, protocol))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, sock: socket.socket, protocol: _Connection) -> None:
        try:
            await self._loop.connect_accepted_socket(
                lambda: protocol,
                sock,
                ssl=self._ssl,
                ssl_handshake_timeout=self._guard.header_timeout_s if self._ssl else None,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:  # a failed TLS handshake, a reset
            LOG.debug("connection not established: %s", exc)
            self._guard.closed(protocol)
            sock.close()


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


def descriptor_headroom(max_connections: int, reserve: int = RESERVED_DESCRIPTORS) -> int:
    """``max_connections``, lowered so that ``reserve`` descriptors stay free for the rest of the
    daemon (databases, Modbus and MQTT links) under this process's RLIMIT_NOFILE."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or max_connections + reserve <= soft:
        return max_connections
    lowered = max(1, soft - reserve)
    LOG.warning(
        "api.max_connections %d lowered to %d: the descriptor limit is %d (keep %d for the rest)",
        max_connections,
        lowered,
        soft,
        reserve,
    )
    return lowered


class LimitedSite(web.BaseSite):
    """``web.TCPSite`` with a :class:`ConnectionGuard`; one per runner."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        header_timeout_s: float,
        ssl_context: Any = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.guard: ConnectionGuard | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        limit = descriptor_headroom(self.max_connections)
        self.guard = ConnectionGuard(server, limit, self.header_timeout_s)
        sock = _bind(self.host, self.port, self._backlog)
        self._server = _Listener(sock, self.guard, self._ssl_context)
