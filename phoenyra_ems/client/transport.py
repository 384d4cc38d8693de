"""The HTTP side of the client: session, URLs, requests with timeout and retry, errors by status.

:class:`Transport` is the base of :class:`~phoenyra_ems.client.client.PhoenyraClient` (see its
docstring for the options); aiohttp and the standard library only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

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
from phoenyra_ems.client.version import __version__

LOG = logging.getLogger(__name__)
API_PREFIX: Final = "/api/v1"
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class Transport:
    """One daemon's address, token and session; :meth:`_request` sends a REST request."""

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
        self._ws: aiohttp.ClientWebSocketResponse | None = None  # the WebSocket (.stream)
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
        return f"{type(self).__name__}({self.base_url!r})"  # never the token

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
        """Close the session if this client created it."""
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
