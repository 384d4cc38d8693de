"""The WebSocket side of the client (``/api/v1/ws``, docs/api.md): connect, subscribe, listen.

:class:`EventStream` adds it to the :class:`~phoenyra_ems.client.transport.Transport`; events are
parsed by :mod:`phoenyra_ems.client.events`. aiohttp and the standard library only.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp

from phoenyra_ems.client.events import Event, parse_event
from phoenyra_ems.client.exceptions import (
    PhoenyraAuthError,
    PhoenyraCertificateError,
    PhoenyraConnectionError,
    PhoenyraConnectionTimeoutError,
    PhoenyraForbiddenError,
    PhoenyraInvalidResponseError,
)
from phoenyra_ems.client.transport import Transport

LOG = logging.getLogger(__name__)
WS_CLOSE_TOKEN_REVOKED = 4001  # the daemon closes a socket whose token was revoked (docs/api.md)

EventCallback = Callable[[Event], Awaitable[None] | None]


class EventStream(Transport):
    """The daemon's WebSocket: one connection per client, events to a callback."""

    async def close(self) -> None:
        """Close the WebSocket, and the session if this client created it."""
        await self.disconnect()
        await super().close()

    @property
    def connected(self) -> bool:
        """True while the WebSocket is open."""
        return self._ws is not None and not self._ws.closed

    async def connect(self) -> None:
        """Open the WebSocket (``/api/v1/ws``); a no-op when already connected."""
        if self.connected:
            return
        session = self._get_session()
        url = self._url("ws")
        try:
            async with asyncio.timeout(self.request_timeout):
                self._ws = await session.ws_connect(
                    url, headers=self._headers(), heartbeat=self.ws_heartbeat_s, ssl=self._ssl
                )
        except TimeoutError as err:
            raise PhoenyraConnectionTimeoutError(
                f"WebSocket: no answer from {self._base} within {self.request_timeout:g} s"
            ) from err
        except aiohttp.WSServerHandshakeError as err:
            message = f"WebSocket refused: {err.status} {err.message}"
            if err.status == 401:
                raise PhoenyraAuthError(message, status=401, code="unauthorized") from err
            if err.status == 403:
                raise PhoenyraForbiddenError(message, status=403, code="forbidden") from err
            raise PhoenyraConnectionError(message, status=err.status) from err
        except aiohttp.ClientConnectorCertificateError as err:
            raise PhoenyraCertificateError(f"WebSocket: certificate refused: {err}") from err
        except aiohttp.ClientError as err:
            raise PhoenyraConnectionError(f"WebSocket: {err or type(err).__name__}") from err
        LOG.debug("WebSocket connected to %s", url)

    def _open_ws(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None or self._ws.closed:
            raise PhoenyraConnectionError("WebSocket not connected: call connect() first")
        return self._ws

    async def _send_ws(self, message: dict[str, Any]) -> None:
        ws = self._open_ws()
        try:
            await ws.send_str(json.dumps(message))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as err:
            raise PhoenyraConnectionError(f"WebSocket: {err or type(err).__name__}") from err

    async def subscribe(self, sites: Iterable[str] | str = "*") -> None:
        """Subscribe to some sites' events, or ``"*"``: every site this user may see. The server
        answers with a :class:`SubscribedEvent` (or an :class:`ErrorEvent`) in :meth:`listen`,
        followed by each site's present state at once."""
        await self._send_ws({"type": "subscribe", "sites": _sites(sites)})

    async def unsubscribe(self, sites: Iterable[str] | str = "*") -> None:
        await self._send_ws({"type": "unsubscribe", "sites": _sites(sites)})

    async def listen(self, callback: EventCallback) -> None:
        """Call ``callback(event)`` (a function or a coroutine function) for every event until the
        connection ends. Returns when :meth:`disconnect` closed it; raises
        :class:`PhoenyraConnectionError` when it was lost (then reconnect with :meth:`connect`), or
        :class:`PhoenyraAuthError` when the daemon closed it because the token was revoked.
        Unknown event types are ignored; malformed frames are logged and skipped. An exception
        raised by ``callback`` propagates (the connection stays open)."""
        ws = self._open_ws()
        while True:
            try:
                message = await ws.receive()
            except (aiohttp.ClientError, ConnectionError) as err:
                await self._drop(ws)
                raise PhoenyraConnectionError(f"WebSocket lost: {err or type(err).__name__}") from err
            if message.type is aiohttp.WSMsgType.TEXT:
                event = _event(message.data)
                if event is not None:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
            elif message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                break
            else:
                LOG.debug("ignoring WebSocket frame of type %s", message.type)
        if self._ws is not ws:  # disconnect() (or a new connect()) closed it on purpose
            return
        await self._drop(ws)
        if ws.close_code == WS_CLOSE_TOKEN_REVOKED:  # reconnecting would only meet a 401
            raise PhoenyraAuthError("WebSocket closed: token revoked", status=401, code="token_revoked")
        reason = ws.exception() or f"closed by the server (code {ws.close_code})"
        raise PhoenyraConnectionError(f"WebSocket lost: {reason}")

    async def _drop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self._ws is ws:
            self._ws = None
        await ws.close()

    async def disconnect(self) -> None:
        """Close the WebSocket; a running :meth:`listen` returns normally."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()


def _sites(sites: Iterable[str] | str) -> list[str] | str:
    if isinstance(sites, str):
        return "*" if sites == "*" else [sites]
    return list(sites)


def _event(text: str) -> Event | None:
    try:
        event = parse_event(json.loads(text))
    except (ValueError, PhoenyraInvalidResponseError) as err:  # JSONDecodeError is a ValueError
        LOG.warning("skipping malformed WebSocket frame: %s", err)
        return None
    if event is None:
        LOG.debug("ignoring WebSocket event of unknown type: %.80s", text)
    return event
