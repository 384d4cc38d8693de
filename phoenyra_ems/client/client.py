"""The async client of the daemon's REST and WebSocket API (aiohttp only; see docs/api.md)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

from phoenyra_ems.client.community import (
    CommunityAllocations,
    CommunityLedger,
    CommunitySettlement,
    CommunityState,
)
from phoenyra_ems.client.events import Event, parse_event
from phoenyra_ems.client.exceptions import (
    PhoenyraAuthError,
    PhoenyraCertificateError,
    PhoenyraConnectionError,
    PhoenyraConnectionTimeoutError,
    PhoenyraError,
    PhoenyraForbiddenError,
    PhoenyraInvalidRequestError,
    PhoenyraInvalidResponseError,
    PhoenyraNotFoundError,
    PhoenyraUnavailableError,
)
from phoenyra_ems.client.forecast import SiteForecast
from phoenyra_ems.client.models import (
    AggregatedState,
    Alarm,
    ControlAck,
    History,
    Info,
    Limits,
    Mode,
    ReloadResult,
    Sensor,
    Site,
    SiteDetail,
    SiteState,
)
from phoenyra_ems.client.plan import SitePlan
from phoenyra_ems.client.selector import SelectorStatus
from phoenyra_ems.client.version import __version__
from phoenyra_ems.client.vpp import VppOverview

LOG = logging.getLogger(__name__)
WS_CLOSE_TOKEN_REVOKED = 4001  # the daemon closes a socket whose token was revoked (docs/api.md)
API_PREFIX: Final = "/api/v1"
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS"})

EventCallback = Callable[[Event], Awaitable[None] | None]


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Default of ``set_limits`` arguments: the field is not sent (``None`` is sent as ``null``)."""


def _time_param(name: str, value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    # UTC with "Z": no "+" in the query string (older yarl versions do not escape it)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class PhoenyraClient:
    """Talks to one Phoenyra EMS daemon.

    ``session``: an ``aiohttp.ClientSession`` to use (Home Assistant passes its shared one); it is
    never closed by this client. Without one, the client creates its own on first use and closes
    it in :meth:`close` (or at the end of ``async with``).

    Every request runs under ``asyncio.timeout(request_timeout)``. Connection errors are retried
    ``retries`` times with exponential backoff (``retry_backoff_s``, doubling, at most
    ``retry_backoff_max_s``): every method when the connection could not be opened (nothing was
    sent), and GET requests also when the connection broke later. A POST or PUT that may have
    reached the daemon is never repeated; a timeout or an HTTP error status is never retried.
    """

    def __init__(
        self,
        host: str,
        port: int = 8080,
        *,
        token: str,
        tls: bool = False,
        verify_ssl: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = 10.0,
        retries: int = 3,
        retry_backoff_s: float = 0.25,
        retry_backoff_max_s: float = 5.0,
        ws_heartbeat_s: float = 30.0,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if request_timeout <= 0:
            raise ValueError("request_timeout must be > 0")
        self.host = host
        self.port = port
        self.tls = tls
        self.request_timeout = request_timeout
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.retry_backoff_max_s = retry_backoff_max_s
        self.ws_heartbeat_s = ws_heartbeat_s
        self._token = token
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else verify_ssl
        self._session = session
        self._close_session = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._base = URL.build(scheme="https" if tls else "http", host=host, port=port)

    @classmethod
    def from_url(cls, url: str, *, token: str, **kwargs: Any) -> Self:
        """``PhoenyraClient.from_url("https://ems.local:8443", token=...)``; any path is ignored."""
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parsed.port if parsed.port is not None else 8080
        return cls(parsed.host, port, token=token, tls=parsed.scheme == "https", **kwargs)

    @property
    def base_url(self) -> str:
        """``http(s)://host:port/api/v1``"""
        return str(self._base.with_path(API_PREFIX))

    def __repr__(self) -> str:
        return f"PhoenyraClient({self.base_url!r})"  # never the token

    # --- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the WebSocket, and the session if this client created it."""
        await self.disconnect()
        if self._session is not None and self._close_session:
            await self._session.close()
            self._session = None
            self._close_session = False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._close_session = True
        return self._session

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "User-Agent": f"phoenyra-client/{__version__}",
        }

    def _url(self, *segments: str) -> URL:
        path = "/".join([API_PREFIX, *(quote(s, safe="") for s in segments)])
        return self._base.with_path(path, encoded=True)

    # --- HTTP --------------------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        *segments: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        url = self._url(*segments)
        what = f"{method} {url.path}"
        attempt = 0
        while True:
            try:
                status, raw = await self._send(method, url, params, body)
            except TimeoutError as err:  # also aiohttp's own socket timeouts
                raise PhoenyraConnectionTimeoutError(
                    f"{what}: no answer from {self._base} within {self.request_timeout:g} s"
                ) from err
            except aiohttp.ClientConnectorCertificateError as err:  # retrying would not change it
                raise PhoenyraCertificateError(f"{what}: certificate refused: {err}") from err
            except aiohttp.ClientSSLError as err:
                raise PhoenyraConnectionError(f"{what}: TLS error: {err}") from err
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as err:
                # ClientConnectorError: the connection could not be opened, nothing was sent
                unsent = isinstance(err, aiohttp.ClientConnectorError)
                if attempt >= self.retries or not (unsent or method in IDEMPOTENT):
                    raise PhoenyraConnectionError(f"{what}: {err or type(err).__name__}") from err
                delay = min(self.retry_backoff_max_s, self.retry_backoff_s * 2**attempt)
                attempt += 1
                LOG.debug("%s failed (%s); retry %d/%d in %.2f s", what, err, attempt, self.retries, delay)
                await asyncio.sleep(delay)
                continue
            except aiohttp.ClientError as err:
                raise PhoenyraConnectionError(f"{what}: {err or type(err).__name__}") from err
            return _decode(what, status, raw)

    async def _send(
        self, method: str, url: URL, params: Mapping[str, str] | None, body: Any
    ) -> tuple[int, bytes]:
        session = self._get_session()
        async with (
            asyncio.timeout(self.request_timeout),
            session.request(
                method,
                url,
                params=params,
                json=body,
                headers=self._headers(),
                ssl=self._ssl,
                allow_redirects=False,
            ) as response,
        ):
            return response.status, await response.read()

    # --- REST --------------------------------------------------------------------------------------
    async def info(self) -> Info:
        """Instance id, version, and who the token belongs to (any role)."""
        return Info.from_dict(await self._request("GET", "info"))

    async def sites(self) -> list[Site]:
        """The sites this user may see."""
        data = await self._request("GET", "sites")
        if not isinstance(data, dict) or not isinstance(data.get("sites"), list):
            raise PhoenyraInvalidResponseError("invalid response: sites: expected a list")
        return [Site.from_dict(s, f"sites[{i}]") for i, s in enumerate(data["sites"])]

    async def site(self, site_id: str) -> SiteDetail:
        """One site with its state and, when its controller runs, its control and limits."""
        return SiteDetail.from_dict(await self._request("GET", "sites", site_id))

    async def state(self, site_id: str) -> SiteState:
        return SiteState.from_dict(await self._request("GET", "sites", site_id, "state"))

    async def alarms(self, site_id: str) -> list[Alarm]:
        data = await self._request("GET", "sites", site_id, "alarms")
        if not isinstance(data, dict) or not isinstance(data.get("alarms"), list):
            raise PhoenyraInvalidResponseError("invalid response: alarms: expected a list")
        return [Alarm.from_dict(a, f"alarms[{i}]") for i, a in enumerate(data["alarms"])]

    async def sensors(self, site_id: str | None = None) -> list[Sensor]:
        """A site's edge sensors, or (without a site) every sensor the user may see."""
        data = await (
            self._request("GET", "sites", site_id, "sensors") if site_id else self._request("GET", "sensors")
        )
        if not isinstance(data, dict) or not isinstance(data.get("sensors"), list):
            raise PhoenyraInvalidResponseError("invalid response: sensors: expected a list")
        return [Sensor.from_dict(item, f"sensors[{i}]") for i, item in enumerate(data["sensors"])]

    async def forecast(self, site_id: str) -> SiteForecast:
        """The site's latest load and PV forecast (``forecast`` is None until the first fit)."""
        return SiteForecast.from_dict(await self._request("GET", "sites", site_id, "forecast"))

    async def plan(self, site_id: str) -> SitePlan:
        """The site's current plan (``plan`` is None before the first one; ``enabled`` is False when
        ``optimiser`` is not among the site's strategies)."""
        return SitePlan.from_dict(await self._request("GET", "sites", site_id, "plan"))

    async def selector(self, site_id: str) -> SelectorStatus:
        """Who chooses the site's strategy (score / AI with confidence / pinned), the model, the A/B tally."""
        return SelectorStatus.from_dict(await self._request("GET", "sites", site_id, "selector"))

    async def history(
        self,
        site_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        step_s: float | None = None,
    ) -> History:
        """Samples in ``[start, end)`` (default: the last hour), averaged into ``step_s`` buckets if
        given (the daemon picks a step itself for spans over a day). Datetimes must be aware."""
        params: dict[str, str] = {}
        if start is not None:
            params["from"] = _time_param("start", start)
        if end is not None:
            params["to"] = _time_param("end", end)
        if step_s is not None:
            params["step"] = str(float(step_s))
        return History.from_dict(await self._request("GET", "sites", site_id, "history", params=params))

    async def aggregated(self) -> AggregatedState:
        """The aggregate of all sites (admins only)."""
        return AggregatedState.from_dict(await self._request("GET", "sites", "aggregated"))

    # --- VPP (docs/vpp.md) ----------------------------------------------------------------------
    async def vpp(self) -> VppOverview:
        """Programs, events, committed schedules, offered flexibility and deviations per site (the
        aggregated resource for admins only)."""
        return VppOverview.from_dict(await self._request("GET", "vpp"))

    # --- energy community (docs/community.md) ------------------------------------------------------
    async def community(self) -> CommunityState:
        """The community: key, price, members (figures only of those the user may see), ledger head,
        latest recorded interval. :class:`PhoenyraNotFoundError` if no community is configured."""
        return CommunityState.from_dict(await self._request("GET", "community"))

    async def community_allocations(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> CommunityAllocations:
        """Recorded quarter-hours in ``[start, end)`` (default: today in the community's time zone;
        at most 31 days). Datetimes must be aware."""
        params: dict[str, str] = {}
        if start is not None:
            params["from"] = _time_param("start", start)
        if end is not None:
            params["to"] = _time_param("end", end)
        return CommunityAllocations.from_dict(
            await self._request("GET", "community", "allocations", params=params)
        )

    async def community_settlement(self, month: str) -> CommunitySettlement:
        """The settlement records of ``month`` (``YYYY-MM``) of the members the user may see."""
        return CommunitySettlement.from_dict(await self._request("GET", "community", "settlements", month))

    async def community_ledger(self) -> CommunityLedger:
        """The ledger's record count, head hash and latest signed checkpoint."""
        return CommunityLedger.from_dict(await self._request("GET", "community", "ledger"))

    async def set_control(
        self,
        site_id: str,
        mode: Mode | str,
        strategy: str | _Unset | None = UNSET,
        setpoint_kw: float | None = None,
        duration_s: float | None = None,
    ) -> ControlAck:
        """Set the mode (operators and admins). ``setpoint_kw`` (+ discharge, - charge) and
        ``duration_s`` (default 900 s, at most 86400 s) are for manual mode; ``strategy`` pins one
        strategy in auto mode, ``None`` unpins it (score-based selection), not given keeps the
        daemon's current pin. Takes effect in the site's next control cycle."""
        body: dict[str, Any] = {"mode": str(mode)}
        if not isinstance(strategy, _Unset):
            body["strategy"] = strategy
        if setpoint_kw is not None:
            body["setpoint_kw"] = setpoint_kw
        if duration_s is not None:
            body["duration_s"] = duration_s
        return ControlAck.from_dict(await self._request("POST", "sites", site_id, "control", body=body))

    async def set_strategy(self, site_id: str, strategy: str | None) -> ControlAck:
        """Pin ``strategy`` (``None``: score-based selection) and change nothing else: the mode, a
        manual setpoint and its expiry stay as the daemon has them (operators and admins)."""
        body = {"strategy": strategy}
        return ControlAck.from_dict(await self._request("POST", "sites", site_id, "control", body=body))

    async def set_limits(
        self,
        site_id: str,
        *,
        soc_reserve_pct: float | _Unset | None = UNSET,
        power_charge_max_kw: float | _Unset | None = UNSET,
        power_discharge_max_kw: float | _Unset | None = UNSET,
    ) -> Limits:
        """Set the operator limits (operators and admins); only the arguments given are sent.

        A limit not given keeps its current value on the daemon; ``None`` clears it.
        """
        body: dict[str, float | None] = {}
        for key, value in (
            ("soc_reserve_pct", soc_reserve_pct),
            ("power_charge_max_kw", power_charge_max_kw),
            ("power_discharge_max_kw", power_discharge_max_kw),
        ):
            if not isinstance(value, _Unset):
                body[key] = value
        data = await self._request("PUT", "sites", site_id, "limits", body=body)
        if not isinstance(data, dict):
            raise PhoenyraInvalidResponseError("invalid response: limits: expected an object")
        return Limits.from_dict(data.get("limits"), "limits")

    async def reload(self) -> ReloadResult:
        """Re-read the daemon's configuration file (admins). A file with errors changes nothing:
        ``reloaded`` is False and ``errors`` says why."""
        return ReloadResult.from_dict(await self._request("POST", "reload"))

    # --- WebSocket ---------------------------------------------------------------------------------
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


def _decode(what: str, status: int, raw: bytes) -> Any:
    """A response → its JSON, or the exception for its status."""
    try:
        data: Any = json.loads(raw)
    except ValueError:  # also UnicodeDecodeError
        data = None
        if 200 <= status < 300:
            snippet = raw[:80].decode("utf-8", "replace")
            raise PhoenyraInvalidResponseError(
                f"{what}: response is not JSON: {snippet!r}", status=status
            ) from None
    if 200 <= status < 300:
        return data
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    message = error.get("message")
    message = f"{what}: {message}" if isinstance(message, str) else f"{what}: HTTP {status}"
    code = error.get("code") if isinstance(error.get("code"), str) else None
    if status == 401:
        raise PhoenyraAuthError(message, status=status, code=code)
    if status == 403:
        raise PhoenyraForbiddenError(message, status=status, code=code)
    if status == 404:
        raise PhoenyraNotFoundError(message, status=status, code=code)
    if status == 503:
        raise PhoenyraUnavailableError(message, status=status, code=code)
    if 400 <= status < 500:
        raw_fields = error.get("fields")
        fields = {str(k): str(v) for k, v in raw_fields.items()} if isinstance(raw_fields, dict) else {}
        raise PhoenyraInvalidRequestError(message, status=status, code=code, fields=fields)
    if status >= 500:
        raise PhoenyraInvalidResponseError(message, status=status, code=code)
    raise PhoenyraError(message, status=status, code=code)  # 1xx / 3xx: not part of this API
