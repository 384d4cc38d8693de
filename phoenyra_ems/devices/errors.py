"""Errors a device adapter raises to the controller."""

from __future__ import annotations


class DeviceError(Exception):
    """The device could not be read or written."""


class DeviceUnavailable(DeviceError):
    """Not connected, timed out, or the device answered with an exception."""


class WriteRefused(DeviceError):
    """The device answered a setpoint write with an exception: it is reachable but not obeying."""


class ImplausibleReading(DeviceError):
    """The device answered, but a value cannot be true (e.g. SoC of 130 %)."""

    def __init__(self, field: str, value: float, reason: str) -> None:
        super().__init__(f"implausible {field} = {value:g}: {reason}")
        self.field = field
        self.value = value


class SocUnavailable(DeviceError):
    """The device answered, but reports no usable state of charge (a not-available marker)."""

    def __init__(self, cycles: int) -> None:
        super().__init__(f"state of charge not available for {cycles} cycles")
