"""Errors of the Phoenyra EMS client; every one carries the server's message where there was one."""

from __future__ import annotations

__all__ = [
    "PhoenyraAuthError",
    "PhoenyraCertificateError",
    "PhoenyraConnectionError",
    "PhoenyraConnectionTimeoutError",
    "PhoenyraError",
    "PhoenyraForbiddenError",
    "PhoenyraInvalidRequestError",
    "PhoenyraInvalidResponseError",
    "PhoenyraNotFoundError",
    "PhoenyraUnavailableError",
]


class PhoenyraError(Exception):
    """Base of every client error.

    ``status`` is the HTTP status of the response (``None`` when there was no response) and
    ``code`` the machine-readable code of the server's ``{"error": {"code": ...}}`` body.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class PhoenyraConnectionError(PhoenyraError):
    """The daemon could not be reached, or the connection (HTTP or WebSocket) was lost."""


class PhoenyraCertificateError(PhoenyraConnectionError):
    """TLS with verification: the daemon's certificate was refused (self-signed, expired, wrong host).

    Retrying does not help; trust the certificate (or its CA) or turn verification off."""


class PhoenyraConnectionTimeoutError(PhoenyraConnectionError):
    """The daemon did not answer within the request timeout."""


class PhoenyraAuthError(PhoenyraError):
    """401: missing, unknown or revoked API token."""


class PhoenyraForbiddenError(PhoenyraError):
    """403: the token's user may not see this site, or may not do this (role too low)."""


class PhoenyraNotFoundError(PhoenyraError):
    """404: unknown site (or path)."""


class PhoenyraInvalidRequestError(PhoenyraError):
    """422 (or another 4xx): the request was refused; ``fields`` maps each bad field to the reason."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.fields: dict[str, str] = dict(fields or {})

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        details = "; ".join(f"{key}: {reason}" for key, reason in self.fields.items())
        return f"{self.message} ({details})"


class PhoenyraInvalidResponseError(PhoenyraError):
    """The daemon answered with something the client cannot use: not JSON, a wrong shape, or a 5xx
    other than 503."""


class PhoenyraUnavailableError(PhoenyraError):
    """503: the site exists but is not running (its controller failed or is restarting), or the
    daemon cannot do this (``reload`` without a configuration file)."""
