"""Signed MQTT commands: HMAC-SHA256 with a per-site command key, a time window and nonces.

A command is a JSON object with ``ts`` (UNIX seconds), ``nonce`` (a unique string, at most 64
characters) and ``sig``: the hex HMAC-SHA256 under the site's ``mqtt.command_key`` of the
canonical JSON of every other field (``json.dumps(obj, sort_keys=True, separators=(",", ":"))``).
The key is useless anywhere else (it is not an API token), a command older or newer than the
window is stale, and a nonce is accepted once per window. See docs/mqtt.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from typing import Any

AUTH_FIELDS = ("ts", "nonce", "sig")
MAX_NONCE_CHARS = 64
DEFAULT_MAX_AGE_S = 30.0
MAX_NONCES = 10_000
TOKEN_REFUSED = (
    "API tokens are no longer accepted on MQTT: sign the command with the site's mqtt.command_key "
    "(fields ts, nonce, sig; phoenyra-ems mqtt-sign, docs/mqtt.md)"
)


class CommandAuthError(Exception):
    """A command that must not be executed; ``str(err)`` is the reason for the ack (no secrets)."""


def canonical(obj: dict[str, Any]) -> bytes:
    """The signed bytes: the command without ``sig``, keys sorted, no whitespace, ASCII only."""
    body = {key: value for key, value in obj.items() if key != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def signature(obj: dict[str, Any], key: str) -> str:
    """Hex HMAC-SHA256 of ``canonical(obj)`` under ``key``."""
    return hmac.new(key.encode(), canonical(obj), hashlib.sha256).hexdigest()


def sign_command(
    obj: dict[str, Any], key: str, now: float | None = None, nonce: str | None = None
) -> dict[str, Any]:
    """A copy of ``obj`` with ``ts`` (default: now), ``nonce`` (default: random) and ``sig``."""
    signed = {k: v for k, v in obj.items() if k not in AUTH_FIELDS}
    signed["ts"] = int(time.time()) if now is None else now
    signed["nonce"] = secrets.token_hex(16) if nonce is None else nonce
    signed["sig"] = signature(signed, key)
    return signed


class CommandVerifier:
    """Checks signature, age and nonce of commands for one site; remembers nonces for one window.

    ``not_before`` (UNIX s): commands signed earlier are stale, so a command captured before a
    restart (when the nonces were forgotten) cannot be replayed after it.
    """

    def __init__(
        self, key: str, max_age_s: float = DEFAULT_MAX_AGE_S, not_before: float | None = None
    ) -> None:
        self._key = key.encode()
        self.max_age_s = max_age_s
        self.not_before = not_before
        self._seen: dict[str, float] = {}  # nonce -> when it may be forgotten (its command is stale)

    def verify(self, obj: dict[str, Any], now: float | None = None) -> None:
        """Raise ``CommandAuthError`` unless ``obj`` is signed, fresh and new; then remember its nonce."""
        now = time.time() if now is None else now
        sig = obj.get("sig")
        try:
            expected = hmac.new(self._key, canonical(obj), hashlib.sha256).hexdigest().encode()
        except ValueError:  # 1e999 parses as inf, which has no canonical JSON
            raise CommandAuthError("bad signature") from None
        if not isinstance(sig, str) or not hmac.compare_digest(sig.lower().encode(), expected):
            raise CommandAuthError("bad signature")
        ts = obj.get("ts")
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
            raise CommandAuthError("ts must be UNIX seconds")
        nonce = obj.get("nonce")
        if not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE_CHARS:
            raise CommandAuthError(f"nonce must be a string of 1 to {MAX_NONCE_CHARS} characters")
        if abs(now - ts) > self.max_age_s or (self.not_before is not None and ts < self.not_before):
            raise CommandAuthError(f"stale command (ts must be within {self.max_age_s:g} s of the EMS clock)")
        self._seen = {n: at for n, at in self._seen.items() if at >= now}
        if nonce in self._seen:
            raise CommandAuthError("replayed command (nonce already used)")
        if len(self._seen) >= MAX_NONCES:
            raise CommandAuthError(f"too many commands (at most {MAX_NONCES} per {self.max_age_s:g} s)")
        self._seen[nonce] = ts + self.max_age_s  # later, the command is stale anyway

    @property
    def remembered(self) -> int:
        """Nonces currently remembered (bounded by the commands of one window)."""
        return len(self._seen)
