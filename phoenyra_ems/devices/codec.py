"""Pure (no I/O) client side of a device: which registers to read, how to decode them, what to write.

:func:`resolve_profile` turns a :class:`DeviceProfile` (for SunSpec: plus a scan result) into
a :class:`RegisterMap` with absolute addresses.  The Modbus driver uses it
(``read_plan``/``decode``/``encode_setpoint``...); the simulator builds its register image from the
same map (:mod:`phoenyra_ems.simulator.image`), so both share one source of truth.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import cast

from phoenyra_ems.devices import sunspec as ss
from phoenyra_ems.devices.controls import (
    WDISCHAMAX_CANDIDATES,
    WMAX_CANDIDATES,
    Control,
    ModeMagnitude,
    Reversion,
    SignedPower,
    SunSpecDerControl,
    SunSpecStorage,
)
from phoenyra_ems.devices.registers import (
    Getter,
    ReadBlock,
    RegisterWrite,
    SetpointUnavailable,
    decode_point,
    decode_registers,
    encode_point,
    encode_registers,
    read_scale_factor,
)
from phoenyra_ems.devices.sunspec import layout_sunspec_models
from phoenyra_ems.models import Measurements
from phoenyra_ems.profiles.loader import (
    MEASUREMENT_NAMES,
    DeviceProfile,
    ModeMagnitudeControl,
    PointSum,
    RegisterPoint,
    RegType,
    SignedPowerControl,
    SunSpecChoice,
    SunSpecControl,
    SunSpecRef,
    WordOrder,
)

MAX_GAP = 8  # merge read blocks whose gap is at most this many registers
MAX_READ = 125  # Modbus limit for one FC3/FC4 request


# --- the resolved map ---------------------------------------------------------------------


class RegisterMap:
    """A profile resolved to absolute addresses: what the driver reads, decodes and writes.

    The simulator builds its register image from the same map (:mod:`phoenyra_ems.simulator.image`).
    """

    def __init__(
        self,
        profile: DeviceProfile,
        measurements: Mapping[str, tuple[RegisterPoint, ...]],
        image_points: Mapping[str, tuple[RegisterPoint, ...]],
        control: Control,
        mode: tuple[RegisterPoint, Mapping[int, str]] | None,
        sunspec_models: Mapping[int, int] | None,
    ) -> None:
        self.profile = profile
        self.revert_timeout_s: float | None = profile.revert_timeout_s
        self.sunspec_models = dict(sunspec_models) if sunspec_models is not None else None
        self._measurements = dict(measurements)
        self._image_points = dict(image_points)
        self._control = control
        self._mode = mode
        self._statics: dict[str, float | None] = {}
        self._scale_factors: dict[int, int | None] = {}

    # client side -------------------------------------------------------------------------

    def _points_to_read(self) -> list[tuple[int | None, str, int, int]]:
        spans: list[tuple[int | None, str, int, int]] = []
        points = [p for terms in self._measurements.values() for p in terms]
        points += list(self._control.statics.values())
        if self._mode is not None:
            points.append(self._mode[0])
        for p in points:
            spans.append((p.unit_id, p.table, p.address, p.count))
            if p.sf_address is not None:
                spans.append((p.unit_id, p.table, p.sf_address, 1))
            if p.direction is not None:
                d = p.direction
                spans.append((d.unit_id, d.table, d.address, 1))
        return spans

    def read_plan(self) -> list[ReadBlock]:
        """Few contiguous blocks covering every measurement, scale factor and status bit."""
        blocks: list[ReadBlock] = []
        for unit, table, start, count in sorted(
            self._points_to_read(), key=lambda s: (s[0] or 0, s[0] is None, s[1], s[2])
        ):
            last = blocks[-1] if blocks else None
            end = start + count
            if (
                last is not None
                and (last.unit, last.table) == (unit, table)
                and start <= last.address + last.count + MAX_GAP
                and max(end, last.address + last.count) - last.address <= MAX_READ
            ):
                new_count = max(end, last.address + last.count) - last.address
                blocks[-1] = ReadBlock(table, last.address, new_count, unit)
            else:
                blocks.append(ReadBlock(table, start, count, unit))
        return blocks

    @staticmethod
    def _getter(blocks: Mapping[tuple[str, int], Sequence[int]]) -> Getter:
        lookup = {
            (table, address + i): value
            for (table, address), regs in blocks.items()
            for i, value in enumerate(regs)
        }
        return lambda table, address: lookup.get((table, address))

    def decode(self, blocks: Mapping[tuple[str, int], Sequence[int]]) -> Measurements:
        """Read blocks (keyed by (table, address)) -> our measurements; None if unavailable."""
        get = self._getter(blocks)
        for name, point in self._control.statics.items():
            self._statics[name] = decode_point(point, get)
        values: dict[str, float | None] = {}
        for name, terms in self._measurements.items():
            for p in terms:
                if p.sf_address is not None:
                    self._scale_factors[p.sf_address] = read_scale_factor(get, p.table, p.sf_address)
            parts = [decode_point(p, get) for p in terms]
            values[name] = None if any(v is None for v in parts) else sum(cast(list[float], parts))
        return Measurements(**values)

    def resolution(self, name: str) -> float | None:
        """The register step of a measurement in our units (after the last decode)."""
        terms = self._measurements.get(name)
        if not terms:
            return None
        p = terms[0]
        sf = self._scale_factors.get(p.sf_address) if p.sf_address is not None else 0
        return abs(p.scale) * 10.0 ** (sf or 0)

    def encode_setpoint(self, kw: float) -> list[RegisterWrite]:
        """Writes commanding ``kw`` (our sign: + discharge), clamped to the register range."""
        return self._control.encode(kw, self._statics)

    def setpoint_range_kw(self) -> tuple[float, float]:
        """(most negative, most positive) setpoint the registers can carry."""
        return self._control.range_kw(self._statics)

    def on_connect_writes(self) -> list[RegisterWrite]:
        return [RegisterWrite(w.address, w.values, w.unit_id) for w in self.profile.on_connect]

    def safe_writes(self) -> list[RegisterWrite]:
        extra = [RegisterWrite(w.address, w.values, w.unit_id) for w in self.profile.safe]
        return self._control.stop() + extra

    # what the simulator's register image needs ----------------------------------------------

    @property
    def image_points(self) -> Mapping[str, tuple[RegisterPoint, ...]]:
        """Every point showing a measurement (SunSpec: all candidates, not just the one read)."""
        return self._image_points

    @property
    def control(self) -> Control:
        return self._control

    @property
    def mode_point(self) -> RegisterPoint | None:
        return None if self._mode is None else self._mode[0]

    def extra_unit_ids(self) -> set[int]:
        """Modbus unit ids other than the configured one that reads or writes address."""
        units = {b.unit for b in self.read_plan()} | {w.unit for w in self.safe_writes()}
        units |= {w.unit for w in self.on_connect_writes()}
        return {u for u in units if u is not None}


# --- resolution ------------------------------------------------------------------------------


def resolve_profile(profile: DeviceProfile, sunspec_models: Mapping[int, int] | None = None) -> RegisterMap:
    """Resolve ``profile`` to absolute addresses (SunSpec: from a scan or a layout)."""
    if profile.kind != "sunspec":
        measurements: dict[str, tuple[RegisterPoint, ...]] = {}
        for name, spec in profile.measurements.items():
            if isinstance(spec, RegisterPoint):
                measurements[name] = (spec,)
            elif isinstance(spec, PointSum):
                measurements[name] = spec.terms
            else:
                raise ValueError(f"{profile.name}: {name} is a SunSpec reference in a register profile")
        control: Control
        if isinstance(profile.control, SignedPowerControl):
            control = SignedPower(profile.control)
        elif isinstance(profile.control, ModeMagnitudeControl):
            control = ModeMagnitude(profile.control)
        else:
            raise ValueError(f"{profile.name}: SunSpec control in a register profile")
        mode = None
        if profile.mode is not None and isinstance(profile.mode.point, RegisterPoint):
            mode = (profile.mode.point, profile.mode.values)
        return RegisterMap(profile, measurements, measurements, control, mode, None)
    if sunspec_models is None:
        raise ValueError(f"profile {profile.name!r} is SunSpec: scan the device (scan_sunspec) first")
    layout = dict(sunspec_models)
    resolved: dict[str, tuple[RegisterPoint, ...]] = {}
    image_points: dict[str, tuple[RegisterPoint, ...]] = {}
    for name, spec in profile.measurements.items():
        if not isinstance(spec, SunSpecChoice):
            raise ValueError(f"{profile.name}: {name} must be a SunSpec reference")
        found = tuple(
            point
            for ref in spec.candidates
            if ref.model in layout and (point := _ref_point(sunspec_models, ref, name)) is not None
        )
        if found:
            resolved[name], image_points[name] = found[:1], found
    revert = round(profile.revert_timeout_s or 0)
    prefer = profile.control.prefer if isinstance(profile.control, SunSpecControl) else (124, 704)
    chosen = next((m for m in prefer if m in layout), None)
    if chosen is None:
        raise ValueError(
            f"SunSpec device implements none of the control models {list(prefer)} (found {sorted(layout)})"
        )
    if chosen == 124:
        control = SunSpecStorage(sunspec_models, revert)
    else:
        control = SunSpecDerControl(sunspec_models, revert)
    mode = None
    if profile.mode is not None and isinstance(profile.mode.point, SunSpecRef):
        ref = profile.mode.point
        if ref.model in layout:
            with contextlib.suppress(ss.PointNotImplemented):
                mode = (ss.sunspec_point(sunspec_models, ref.model, ref.point), profile.mode.values)
    return RegisterMap(profile, resolved, image_points, control, mode, layout)


def _ref_point(layout: Mapping[int, int], ref: SunSpecRef, name: str) -> RegisterPoint | None:
    """The candidate's point; None if the device's model is too short to have it."""
    units = ss.model_definition(ref.model).point(ref.point).units
    scale = 0.001 if name.endswith("_kw") and units == "W" else 1.0
    try:
        return ss.sunspec_point(layout, ref.model, ref.point, scale=scale, sign=ref.sign)
    except ss.PointNotImplemented:
        return None


__all__ = [
    "MEASUREMENT_NAMES",
    "WDISCHAMAX_CANDIDATES",
    "WMAX_CANDIDATES",
    "ReadBlock",
    "RegType",
    "RegisterMap",
    "RegisterWrite",
    "Reversion",
    "SetpointUnavailable",
    "WordOrder",
    "decode_point",
    "decode_registers",
    "encode_point",
    "encode_registers",
    "layout_sunspec_models",
    "resolve_profile",
]
