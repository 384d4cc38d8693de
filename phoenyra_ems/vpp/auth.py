"""OAuth2 client credentials against the VTN's token endpoint (RFC 6749 §4.4), token cached.

The client secret lives only in ``Credentials.secret`` (excluded from ``repr``) and the form body of
the token request; it is never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import aiohttp

from phoenyra_ems.vpp.errors import VtnAuthError, VtnConnectionError, VtnInvalidAnswer
from phoenyra_ems.vpp.openapi import SpecViolation, validate_response

log = logging.getLogger(__name__)
REFRESH_MARGIN_S = 30.0  # renew this long before the token expires


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    secret: str = field(repr=False)

    def __str__(self) -> str:
        return f"client {self.client_id}"


@dataclass(slots=True)
class TokenSource:
    """A bearer token for the VTN, fetched on first use and renewed before it expires."""

    session: aiohttp.ClientSession
    token_url: str
    credentials: Credentials
    timeout_s: float = 10.0
    ssl: object = True
    validate_path: str | None = "/auth/token"  # path validated against the document (None: not the VTN's)
    _token: str | None = field(default=None, repr=False)
    _expires: float = 0.0
    _margin: float = REFRESH_MARGIN_S
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires - self._margin:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.secret,
        }
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.session.post(
                    self.token_url,
                    data=form,
                    ssl=self.ssl,  # type: ignore[arg-type]
                ) as resp:
                    body = await resp.read()
                    status, ctype = resp.status, resp.headers.get("Content-Type")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise VtnConnectionError(
                f"token endpoint {self.token_url}: {type(exc).__name__}: {exc}"
            ) from None
        if self.validate_path is not None:
            try:
                await asyncio.to_thread(
                    validate_response, "post", self.validate_path, status, body, content_type=ctype
                )
            except SpecViolation as exc:
                log.error("VTN answer rejected (violates OpenADR 3.0.1): %s", exc)
                raise VtnInvalidAnswer(str(exc)) from None
        if status != 200:
            raise VtnAuthError(f"token endpoint {self.token_url} refused {self.credentials}: HTTP {status}")
        try:
            data = json.loads(body)
        except ValueError:
            raise VtnInvalidAnswer(f"token endpoint {self.token_url}: answer is not JSON") from None
        token = data.get("access_token")
        if not isinstance(token, str) or str(data.get("token_type", "")).lower() != "bearer":
            raise VtnAuthError(f"token endpoint {self.token_url} gave no bearer token")
        expires_in = data.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
        self._token, self._expires = token, time.monotonic() + lifetime
        self._margin = min(REFRESH_MARGIN_S, lifetime / 10)  # a short-lived token is still used
        log.info("VTN token for %s obtained (valid %.0f s)", self.credentials, lifetime)
