"""What a device profile states, as frozen dataclasses (parsed from YAML by :mod:`.profile`).

A profile states device facts (register, table, type, raw scale, device unit, word order,
invalid markers); the parser folds units into each point's ``scale``/``sign`` so that they convert
raw registers straight into our units and sign convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Table = Literal["holding", "input"]
RegType = Literal["int16", "uint16", "int32", "uint32", "float32"]
WordOrder = Literal["big", "little"]

MEASUREMENT_NAMES = (
    "soc_pct",
    "soh_pct",
    "temp_c",
    "p_bess_kw",
    "p_pv_kw",
    "p_load_kw",
    "p_grid_kw",
)
REG_TYPES: tuple[RegType, ...] = ("int16", "uint16", "int32", "uint32", "float32")


class UnknownProfileError(ValueError):
    """No profile of that name is shipped."""


class ProfileError(ValueError):
    """A profile file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Direction:
    """Sign taken from status bits (the value register holds a magnitude)."""

    address: int
    table: Table = "input"
    positive_mask: int = 0  # bit set -> our sign positive
    negative_mask: int = 0  # bit set -> our sign negative
    unit_id: int | None = None


@dataclass(frozen=True)
class RegisterPoint:
    """One value: ``ours = raw * scale * 10**sf * sign`` (sf read from ``sf_address``)."""

    address: int
    table: Table = "holding"
    type: RegType = "uint16"
    scale: float = 1.0
    word_order: WordOrder = "big"
    sign: int = 1
    sf_address: int | None = None
    unit_id: int | None = None  # Modbus unit id override (None: the configured one)
    invalid: tuple[int, ...] = ()  # raw (unsigned) values meaning "not available"
    direction: Direction | None = None

    @property
    def count(self) -> int:
        return 1 if self.type in ("int16", "uint16") else 2


@dataclass(frozen=True)
class PointSum:
    """A measurement that is the sum of several registers (e.g. three phases)."""

    terms: tuple[RegisterPoint, ...]


@dataclass(frozen=True)
class SunSpecRef:
    """A SunSpec point by model id and point name, resolved to an address after a scan."""

    model: int
    point: str
    sign: int = 1


@dataclass(frozen=True)
class SunSpecChoice:
    """The first candidate whose model the device implements is used."""

    candidates: tuple[SunSpecRef, ...]


Measure = RegisterPoint | PointSum | SunSpecChoice


@dataclass(frozen=True)
class StaticWrite:
    """Fixed register values (FC16, holding registers)."""

    address: int
    values: tuple[int, ...]
    unit_id: int | None = None


@dataclass(frozen=True)
class ModeSpec:
    """The device's operating-mode register and the names of its values."""

    point: RegisterPoint | SunSpecRef
    values: Mapping[int, str]


@dataclass(frozen=True)
class SignedPowerControl:
    """One signed register holds the battery setpoint."""

    setpoint: RegisterPoint
    also: tuple[StaticWrite, ...] = ()  # written with every setpoint (same request if adjacent)


@dataclass(frozen=True)
class ModeMagnitudeControl:
    """A command register (charge / discharge / stop) plus an unsigned power magnitude."""

    command: RegisterPoint
    charge: int
    discharge: int
    stop: int
    charge_power: RegisterPoint
    discharge_power: RegisterPoint  # the same point when the device has one power register
    also: tuple[StaticWrite, ...] = ()


@dataclass(frozen=True)
class SunSpecControl:
    """SunSpec storage control; the first model in ``prefer`` the device implements is used."""

    prefer: tuple[int, ...] = (124, 704)


Control = SignedPowerControl | ModeMagnitudeControl | SunSpecControl


@dataclass(frozen=True)
class SensorRegister:
    """A named sensor register of a device (``sensors:`` in a profile), read by ``source: modbus``
    sensors of the configuration: ``value = raw * point.scale`` in ``unit`` (no conversion)."""

    point: RegisterPoint
    unit: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ProfileParameter:
    """A value a site may set for its device (``modbus.parameters``), as evcc's templates do: a scale
    multiplier on some measurements (firmware that reports power in 10-W steps, a gateway that
    scales by 100), ``default`` 1 = the profile as written."""

    name: str
    points: tuple[str, ...]  # measurement names whose scale the value multiplies
    description: str
    default: float = 1.0


@dataclass(frozen=True)
class DeviceProfile:
    """A device's register map, setpoint mechanism and connection defaults."""

    name: str
    vendor: str
    description: str
    source: str
    kind: Literal["registers", "sunspec"]
    unit_id: int
    measurements: Mapping[str, Measure]
    control: Control
    revert_timeout_s: float | None
    on_connect: tuple[StaticWrite, ...] = ()
    safe: tuple[StaticWrite, ...] = ()
    mode: ModeSpec | None = None
    sensors: Mapping[str, SensorRegister] = field(default_factory=dict)  # named sensor registers
    parameters: Mapping[str, ProfileParameter] = field(default_factory=dict)  # ``modbus.parameters``

    @property
    def is_sunspec(self) -> bool:
        """Addresses come from a SunSpec scan (``resolve_profile`` needs the scan result)."""
        return self.kind == "sunspec"
