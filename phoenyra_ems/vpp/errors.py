"""Errors of the VEN client."""

from __future__ import annotations


class VtnError(Exception):
    """Anything that went wrong talking to a VTN."""


class VtnConnectionError(VtnError):
    """The VTN could not be reached (connection refused, timeout, TLS)."""


class VtnAuthError(VtnError):
    """The VTN refused our credentials or token."""


class VtnHttpError(VtnError):
    """The VTN answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class VtnInvalidAnswer(VtnError):
    """The VTN answered with something that violates the OpenADR 3.0.1 document: never applied."""
