"""Errors a device adapter raises to the controller."""

from __future__ import annotations


class DeviceError(Exception):
    """The device could not be read or written."""


class DeviceUnavailable(DeviceError):
    """Not connected, timed out, or the device answered with an exception."""


class ImplausibleReading(DeviceError):
    """The device answered, but a value cannot be true (e.g. SoC of 130 %)."""

    def __init__(self, field: str, value: float, reason: str) -> None:
        super().__init__(f"implausible {field} = {value:g}: {reason}")
        self.field = field
        self.value = value
