"""Pure (no I/O) conversion between Modbus registers and our measurements / setpoints.

:func:`resolve_profile` turns a :class:`DeviceProfile` (for SunSpec: plus a scan result) into
a :class:`RegisterMap` with absolute addresses.  The Modbus driver uses its client side
(``read_plan``/``decode``/``encode_setpoint``...), the simulator its server side
(``image``/``decode_setpoint_write``), so both share one source of truth.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from phoenyra_ems.devices import sunspec as ss
from phoenyra_ems.devices.profile import (
    MEASUREMENT_NAMES,
    DeviceProfile,
    ModeMagnitudeControl,
    PointSum,
    RegisterPoint,
    RegType,
    SignedPowerControl,
    StaticWrite,
    SunSpecChoice,
    SunSpecControl,
    SunSpecRef,
    WordOrder,
)
from phoenyra_ems.devices.sunspec import layout_sunspec_models
from phoenyra_ems.models import Measurements

MAX_GAP = 8  # merge read blocks whose gap is at most this many registers
MAX_READ = 125  # Modbus limit for one FC3/FC4 request
_LIMITS: dict[str, tuple[int, int]] = {
    "int16": (-0x8000, 0x7FFF),
    "uint16": (0, 0xFFFF),
    "int32": (-0x80000000, 0x7FFFFFFF),
    "uint32": (0, 0xFFFFFFFF),
}

Getter = Callable[[str, int], int | None]  # (table, address) -> register value


class SetpointUnavailable(RuntimeError):
    """The setpoint needs device values (e.g. SunSpec WChaMax) not read yet: decode() first."""


@dataclass(frozen=True)
class ReadBlock:
    """One FC3 (holding) / FC4 (input) read; ``unit`` None means the configured unit id."""

    table: str
    address: int
    count: int
    unit: int | None = None


@dataclass(frozen=True)
class RegisterWrite:
    """One FC16 write to holding registers; ``unit`` None means the configured unit id."""

    address: int
    values: tuple[int, ...]
    unit: int | None = None


# --- register <-> number ----------------------------------------------------------------


def register_count(reg_type: str) -> int:
    return 1 if reg_type in ("int16", "uint16") else 2


def decode_registers(regs: Sequence[int], reg_type: str, word_order: str = "big") -> int | float:
    """Registers -> number (two's complement, IEEE-754 float32, word order respected)."""
    return _to_number(_assemble(regs, word_order), reg_type)


def encode_registers(value: float, reg_type: str, word_order: str = "big") -> tuple[int, ...]:
    """Number -> registers, rounded and clamped to the type's range."""
    if reg_type == "float32":
        packed = int.from_bytes(struct.pack(">f", value), "big")
    else:
        lo, hi = _LIMITS[reg_type]
        packed = min(max(round(value), lo), hi) & (0xFFFF if reg_type.endswith("16") else 0xFFFFFFFF)
    if register_count(reg_type) == 1:
        return (packed,)
    high, low = packed >> 16, packed & 0xFFFF
    return (high, low) if word_order == "big" else (low, high)


def _assemble(regs: Sequence[int], word_order: str) -> int:
    if len(regs) == 1:
        return regs[0] & 0xFFFF
    high, low = (regs[0], regs[1]) if word_order == "big" else (regs[1], regs[0])
    return ((high & 0xFFFF) << 16) | (low & 0xFFFF)


def _to_number(packed: int, reg_type: str) -> int | float:
    if reg_type == "float32":
        return cast(float, struct.unpack(">f", packed.to_bytes(4, "big"))[0])
    if reg_type == "int16":
        return packed - 0x10000 if packed & 0x8000 else packed
    if reg_type == "int32":
        return packed - 0x100000000 if packed & 0x80000000 else packed
    return packed


def read_scale_factor(get: Getter, table: str, address: int) -> int | None:
    """A SunSpec scale factor (int16 power of ten); None if missing or not implemented."""
    raw = get(table, address)
    if raw is None or raw == 0x8000:
        return None
    sf = int(_to_number(raw, "int16"))
    return sf if -10 <= sf <= 10 else None


def decode_point(point: RegisterPoint, get: Getter) -> float | None:
    """One point in our units and sign; None for missing/invalid/not-implemented values."""
    regs = [get(point.table, point.address + i) for i in range(point.count)]
    if any(r is None for r in regs):
        return None
    packed = _assemble(cast(list[int], regs), point.word_order)
    if packed in point.invalid:
        return None
    value = float(_to_number(packed, point.type))
    if math.isnan(value):
        return None
    if point.sf_address is not None:
        sf = read_scale_factor(get, point.table, point.sf_address)
        if sf is None:
            return None
        value *= 10.0**sf
    value *= point.scale
    if point.direction is not None:
        d = point.direction
        status = get(d.table, d.address)
        if status is None:
            return None
        value = abs(value) * (1 if status & d.positive_mask else -1 if status & d.negative_mask else 0)
    return value * point.sign + 0.0  # + 0.0 turns -0.0 into 0.0


def encode_point(point: RegisterPoint, value: float, sf: int = 0) -> tuple[int, ...]:
    """Our value -> the point's registers (magnitude only when the sign is in status bits)."""
    device = value * point.sign
    if point.direction is not None:
        device = abs(device)
    return encode_registers(device / point.scale / 10.0**sf, point.type, point.word_order)


def point_range(point: RegisterPoint, sf: int = 0) -> tuple[float, float]:
    """Our-unit range the point can carry."""
    lo, hi = _LIMITS.get(point.type, (-3.4e38, 3.4e38))
    ends = sorted(v * point.scale * 10.0**sf * point.sign for v in (lo, hi))
    return ends[0], ends[1]


def _writes(items: Iterable[tuple[int | None, int, int]], last: int | None = None) -> list[RegisterWrite]:
    """(unit, address, value) -> contiguous FC16 writes; the one holding ``last`` goes last."""
    by_unit: dict[int | None, dict[int, int]] = {}
    for unit, address, value in items:
        by_unit.setdefault(unit, {})[address] = value
    out: list[RegisterWrite] = []
    for unit, regs in by_unit.items():
        run: list[int] = []
        for address in sorted(regs):
            if run and address != run[-1] + 1:
                out.append(RegisterWrite(run[0], tuple(regs[a] for a in run), unit))
                run = []
            run.append(address)
        if run:
            out.append(RegisterWrite(run[0], tuple(regs[a] for a in run), unit))
    out.sort(key=lambda w: last is not None and w.address <= last < w.address + len(w.values))
    return out


def _point_items(
    point: RegisterPoint, regs: Sequence[int], unit: int | None
) -> list[tuple[int | None, int, int]]:
    return [(unit, point.address + i, r) for i, r in enumerate(regs)]


def _static_items(writes: Iterable[StaticWrite], unit: int | None) -> list[tuple[int | None, int, int]]:
    return [
        (w.unit_id if w.unit_id is not None else unit, w.address + i, v)
        for w in writes
        for i, v in enumerate(w.values)
    ]


def _regs_getter(regs: Mapping[int, int]) -> Getter:
    return lambda _table, address: regs.get(address)


# --- setpoint mechanisms -----------------------------------------------------------------


# Where a device states the discharge maximum that 124 OutWRte is a percentage of ("% WDisChaMax":
# model 124 itself has no such point). The first model the device implements is used; when none
# is implemented (or the value reads "not implemented") WChaMax is the base, as for InWRte.
WDISCHAMAX_CANDIDATES: tuple[tuple[int, str], ...] = ((702, "WDisChaRteMax"), (802, "WDisChaRteMax"))
# Where a device states WMax, the base of 704 WSetPct (WSetMod = 0, W_MAX_PCT).
WMAX_CANDIDATES: tuple[tuple[int, str], ...] = ((702, "WMax"), (702, "WMaxRtg"))

Reversion = tuple[float | None, float]  # (seconds until reversion or None for never, kW after it)


def _first_point(layout: Mapping[int, int], candidates: Iterable[tuple[int, str]]) -> RegisterPoint | None:
    for model_id, name in candidates:
        if model_id in layout:
            try:
                return ss.sunspec_point(layout, model_id, name, scale=0.001)
            except ss.PointNotImplemented:
                continue
    return None


def _first_value(
    points: Iterable[RegisterPoint | None], get: Getter
) -> float | None:  # first implemented, positive value
    for point in points:
        value = decode_point(point, get) if point is not None else None
        if value:
            return value
    return None


class _Control:
    setpoint_registers: frozenset[int] = frozenset()
    statics: Mapping[str, RegisterPoint] = {}

    def encode(self, kw: float, statics: Mapping[str, float | None]) -> list[RegisterWrite]:
        raise NotImplementedError

    def stop(self) -> list[RegisterWrite]:
        raise NotImplementedError

    def decode(self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None) -> float | None:
        """Server side: the power the written registers command (None: not a complete command)."""
        raise NotImplementedError

    def reversion(
        self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None
    ) -> Reversion | None:
        """Server side: the reversion the written registers ask for (None: the device's own)."""
        return None

    def range_kw(self, statics: Mapping[str, float | None]) -> tuple[float, float]:
        raise NotImplementedError


class _SignedPower(_Control):
    def __init__(self, spec: SignedPowerControl) -> None:
        self.point = spec.setpoint
        self.also = spec.also
        self.setpoint_registers = frozenset(range(self.point.address, self.point.address + self.point.count))

    def encode(self, kw: float, statics: Mapping[str, float | None]) -> list[RegisterWrite]:
        lo, hi = point_range(self.point)
        regs = encode_point(self.point, min(max(kw, lo), hi))
        unit = self.point.unit_id
        return _writes(_point_items(self.point, regs, unit) + _static_items(self.also, unit))

    def stop(self) -> list[RegisterWrite]:
        return self.encode(0.0, {})

    def decode(self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None) -> float | None:
        return decode_point(self.point, _regs_getter(regs))

    def range_kw(self, statics: Mapping[str, float | None]) -> tuple[float, float]:
        return point_range(self.point)


class _ModeMagnitude(_Control):
    def __init__(self, spec: ModeMagnitudeControl) -> None:
        self.spec = spec
        powers = (spec.charge_power, spec.discharge_power)
        self.setpoint_registers = frozenset(
            [spec.command.address] + [p.address + i for p in powers for i in range(p.count)]
        )

    def encode(self, kw: float, statics: Mapping[str, float | None]) -> list[RegisterWrite]:
        s = self.spec
        step = abs(s.discharge_power.scale if kw > 0 else s.charge_power.scale)
        unit = s.command.unit_id
        if abs(kw) < step / 2:
            return self.stop()
        point, cmd = (s.discharge_power, s.discharge) if kw > 0 else (s.charge_power, s.charge)
        magnitude = min(abs(kw), point_range(point)[1])
        items = _point_items(point, encode_point(point, magnitude), unit)
        items += _point_items(s.command, (cmd,), unit) + _static_items(s.also, unit)
        return _writes(items, last=s.command.address)

    def stop(self) -> list[RegisterWrite]:
        s = self.spec
        unit = s.command.unit_id
        items = [
            item
            for p in {s.charge_power, s.discharge_power}
            for item in _point_items(p, encode_point(p, 0.0), unit)
        ]
        items += _point_items(s.command, (s.stop,), unit) + _static_items(s.also, unit)
        return _writes(items, last=s.command.address)

    def decode(self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None) -> float | None:
        s, get = self.spec, _regs_getter(regs)
        cmd = regs.get(s.command.address)
        if cmd == s.stop:
            return 0.0
        if cmd == s.charge:
            value = decode_point(s.charge_power, get)
            return None if value is None else -abs(value)
        if cmd == s.discharge:
            value = decode_point(s.discharge_power, get)
            return None if value is None else abs(value)
        return None

    def range_kw(self, statics: Mapping[str, float | None]) -> tuple[float, float]:
        return -point_range(self.spec.charge_power)[1], point_range(self.spec.discharge_power)[1]


class _SunSpecStorage(_Control):
    """SunSpec 124: pin charge and discharge limits to one power (StorCtl_Mod = 3).

    ``OutWRte`` is a % of WDisChaMax, ``InWRte`` a % of WChaMax (a negative limit forces the other
    direction), so a setpoint P (+ discharge) is written as OutWRte = P / WDisChaMax and
    InWRte = -P / WChaMax: the allowed window [-InWRte * WChaMax, OutWRte * WDisChaMax] is [P, P].
    """

    def __init__(self, layout: Mapping[int, int], revert_s: int) -> None:
        base = layout[124]
        md = ss.model_definition(124)
        self.off = {name: base + p.offset for name, p in md.points.items()}
        self.revert_s = revert_s
        self.setpoint_registers = frozenset(self.off[n] for n in ("StorCtl_Mod", "OutWRte", "InWRte"))
        self.statics = {
            "wchamax_kw": ss.sunspec_point({124: base}, 124, "WChaMax", scale=0.001),
            "inout_sf": ss.sunspec_point({124: base}, 124, "InOutWRte_SF"),
        }
        for model_id, name in WDISCHAMAX_CANDIDATES:  # all of them: the first implemented value wins
            point = _first_point(layout, [(model_id, name)])
            if point is not None:
                self.statics[f"wdischamax_kw:{model_id}"] = point

    def _rates(self, out_raw: int, in_raw: int) -> list[RegisterWrite]:
        o = self.off
        rates = {o["OutWRte"]: out_raw & 0xFFFF, o["InWRte"]: in_raw & 0xFFFF, o["InOutWRte_WinTms"]: 0}
        rates |= {o["InOutWRte_RvrtTms"]: self.revert_s, o["InOutWRte_RmpTms"]: 0}
        return [*_writes([(None, a, v) for a, v in rates.items()]), RegisterWrite(o["StorCtl_Mod"], (3,))]

    @staticmethod
    def _bases(statics: Mapping[str, float | None]) -> tuple[float, float, int]:
        wcha, sf = statics.get("wchamax_kw"), statics.get("inout_sf")
        if not wcha or sf is None:
            raise SetpointUnavailable("SunSpec 124 needs WChaMax and InOutWRte_SF: call decode() first")
        wdis = next((v for k, v in statics.items() if k.startswith("wdischamax_kw:") and v), None)
        return wcha, wdis or wcha, int(sf)  # no WDisChaMax implemented: WChaMax

    def range_kw(self, statics: Mapping[str, float | None]) -> tuple[float, float]:
        """Each direction up to its maximum, and as far as the forcing rate can say (a charge is
        forced by a negative OutWRte, a % of WDisChaMax, which int16 limits to 327.67 % at SF -2)."""
        wcha, wdis, sf = self._bases(statics)
        most = 0x7FFF * 10.0**sf / 100.0
        return -min(wcha, most * wdis), min(wdis, most * wcha)

    def encode(self, kw: float, statics: Mapping[str, float | None]) -> list[RegisterWrite]:
        wcha, wdis, sf = self._bases(statics)
        lo, hi = self.range_kw(statics)
        kw = min(max(kw, lo), hi)

        def raw(pct: float) -> int:
            return min(max(round(pct / 10.0**sf), -0x7FFF), 0x7FFF)

        return self._rates(raw(kw / wdis * 100.0), raw(-kw / wcha * 100.0))

    def stop(self) -> list[RegisterWrite]:
        return self._rates(0, 0)

    def decode(self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None) -> float | None:
        """What the device does: hold 0 kW, within the window its active limits leave."""
        get, o = _regs_getter(regs), self.off
        mode = regs.get(o["StorCtl_Mod"])
        wcha = decode_point(self.statics["wchamax_kw"], get)
        wdis_points = [p for k, p in self.statics.items() if k.startswith("wdischamax_kw:")]
        wdis = _first_value(wdis_points, get) or wcha
        sf = read_scale_factor(get, "holding", o["InOutWRte_SF"])
        if mode is None or wcha is None or wdis is None or sf is None:
            return None
        lo, hi = -wcha, wdis
        if mode & 1:  # CHARGE: charge limited to InWRte % of WChaMax
            raw = regs.get(o["InWRte"])
            if raw is None or raw == 0x8000:
                return None
            lo = -_to_number(raw, "int16") * 10.0**sf / 100.0 * wcha
        if mode & 2:  # DISCHARGE: discharge limited to OutWRte % of WDisChaMax
            raw = regs.get(o["OutWRte"])
            if raw is None or raw == 0x8000:
                return None
            hi = _to_number(raw, "int16") * 10.0**sf / 100.0 * wdis
        if lo > hi:  # overlapping limits: within one register step rounding, else contradictory
            step = 10.0**sf / 100.0 * max(wcha, wdis)
            return (lo + hi) / 2.0 if lo - hi <= 2 * step else 0.0
        return min(max(0.0, lo), hi) + 0.0

    def reversion(
        self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None
    ) -> Reversion | None:
        raw = regs.get(self.off["InOutWRte_RvrtTms"])
        if raw is None or raw == 0xFFFF:
            return None
        return (float(raw) if raw else None), 0.0  # after the timeout the limits lapse: 0 kW


class _SunSpecDerControl(_Control):
    """SunSpec 704: WSetEna = 1, WSetMod = 1 (watts), WSet (+ inject), reversion to 0 W."""

    def __init__(self, layout: Mapping[int, int], revert_s: int) -> None:
        base = layout[704]
        md = ss.model_definition(704)
        self.off = {name: base + p.offset for name, p in md.points.items()}
        self.revert_s = revert_s
        self.wset = ss.sunspec_point({704: base}, 704, "WSet", scale=0.001)
        self.wset_rvrt = ss.sunspec_point({704: base}, 704, "WSetRvrt", scale=0.001)
        self.wset_pct = ss.sunspec_point({704: base}, 704, "WSetPct")
        self.wset_pct_rvrt = ss.sunspec_point({704: base}, 704, "WSetPctRvrt")
        self.wmax = [_first_point(layout, [c]) for c in WMAX_CANDIDATES]
        names = ("WSetEna", "WSetMod", "WSet", "WSetPct")
        self.setpoint_registers = frozenset(self.off[n] for n in names) | {self.off["WSet"] + 1}
        self.statics = {"wset_sf": ss.sunspec_point({704: base}, 704, "WSet_SF")}

    def _block(self, wset: tuple[int, ...]) -> list[RegisterWrite]:
        rvrt = encode_registers(self.revert_s, "uint32")
        # WSetEna, WSetMod, WSet(2), WSetRvrt(2), WSetPct, WSetPctRvrt, WSetEnaRvrt, WSetRvrtTms(2)
        values = (1, 1, *wset, 0, 0, 0, 0, 1 if self.revert_s else 0, *rvrt)
        return [RegisterWrite(self.off["WSetEna"], values)]

    def encode(self, kw: float, statics: Mapping[str, float | None]) -> list[RegisterWrite]:
        sf = statics.get("wset_sf")
        if sf is None:
            raise SetpointUnavailable("SunSpec 704 needs WSet_SF: call decode() first")
        raw = min(max(round(kw * 1000.0 / 10.0 ** int(sf)), -0x7FFFFFFF), 0x7FFFFFFF)
        return self._block(encode_registers(raw, "int32"))

    def stop(self) -> list[RegisterWrite]:
        return self._block((0, 0))

    def _wmax_kw(self, get: Getter, nameplate: Mapping[str, float] | None) -> float | None:
        wmax = _first_value(self.wmax, get)
        if wmax is None and nameplate:  # the device's own rating when it does not publish WMax
            wmax = max(nameplate["power_charge_max_kw"], nameplate["power_discharge_max_kw"])
        return wmax

    def _power(
        self,
        regs: Mapping[int, int],
        watts: RegisterPoint,
        pct: RegisterPoint,
        nameplate: Mapping[str, float] | None,
    ) -> float | None:
        get = _regs_getter(regs)
        mode = regs.get(self.off["WSetMod"])
        if mode == 1:  # WATTS
            return decode_point(watts, get)
        if mode == 0:  # W_MAX_PCT
            value, wmax = decode_point(pct, get), self._wmax_kw(get, nameplate)
            return None if value is None or wmax is None else value / 100.0 * wmax
        return None

    def decode(self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None) -> float | None:
        ena = regs.get(self.off["WSetEna"])
        if ena == 0:  # function disabled: the device holds
            return 0.0
        if ena != 1:
            return None
        return self._power(regs, self.wset, self.wset_pct, nameplate)

    def reversion(
        self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None
    ) -> Reversion | None:
        tms = [regs.get(self.off["WSetRvrtTms"] + i) for i in range(2)]
        if any(r is None for r in tms):
            return None
        seconds = (cast(int, tms[0]) << 16) | cast(int, tms[1])
        if seconds == 0xFFFFFFFF:
            return None
        target = 0.0
        if regs.get(self.off["WSetEnaRvrt"]) == 1:
            target = self._power(regs, self.wset_rvrt, self.wset_pct_rvrt, nameplate) or 0.0
        return (float(seconds) if seconds else None), target

    def range_kw(self, statics: Mapping[str, float | None]) -> tuple[float, float]:
        sf = statics.get("wset_sf")
        if sf is None:
            raise SetpointUnavailable("SunSpec 704 WSet_SF not read yet: call decode() first")
        return point_range(self.wset, int(sf))


# --- the resolved map ---------------------------------------------------------------------


class RegisterMap:
    """A profile resolved to absolute addresses (client and server side of one device)."""

    def __init__(
        self,
        profile: DeviceProfile,
        measurements: Mapping[str, tuple[RegisterPoint, ...]],
        image_points: Mapping[str, tuple[RegisterPoint, ...]],
        control: _Control,
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
        self._written: dict[int, int] = {}  # server side: control registers written so far
        self._nameplate: dict[str, float] = {}  # server side: the device's ratings (from image())
        self._last_regs: dict[int, int] = {}  # server side: registers as of the last setpoint write

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

    def decode_mode(self, blocks: Mapping[tuple[str, int], Sequence[int]]) -> str | None:
        """The device's operating mode by name (``"0x.."`` if the value has no name)."""
        if self._mode is None:
            return None
        point, names = self._mode
        value = decode_point(point, self._getter(blocks))
        return None if value is None else names.get(int(value), hex(int(value)))

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

    # server side (simulator) ------------------------------------------------------------

    def image(self, m: Measurements, nameplate: Mapping[str, float]) -> dict[int, int]:
        """Full register image (address -> uint16) showing ``m``; setpoint in its safe state."""
        self._nameplate = dict(nameplate)
        img: dict[int, int] = {}
        if self.sunspec_models is not None:
            img.update(_sunspec_static_image(self.sunspec_models, m, nameplate))
        get = _regs_getter(img)
        # single points first: a sum's first term absorbs what shared registers already show
        for name, points in sorted(self._image_points.items(), key=lambda kv: len(kv[1])):
            value = cast(float | None, getattr(m, name))
            if self.sunspec_models is not None:
                for p in points:
                    if value is not None:
                        _put(img, p, value)
                continue
            first, rest = points[0], points[1:]
            for p in rest:
                if any(p.address + i not in img for i in range(p.count)):
                    _put(img, p, 0.0)
            if value is None:
                if first.invalid:
                    img.update(
                        enumerate(
                            encode_registers(
                                first.invalid[0], "uint32" if first.count == 2 else "uint16", first.word_order
                            ),
                            first.address,
                        )
                    )
                continue
            others = [decode_point(p, get) for p in rest]
            _put(img, first, value - sum(v or 0.0 for v in others))
        for write in self._control.stop():
            img.update(enumerate(write.values, write.address))
        # registers the driver writes on connect / reads as the mode exist (0) before it does
        for w in (*self.profile.on_connect, *self.profile.safe):
            for address in range(w.address, w.address + len(w.values)):
                img.setdefault(address, 0)
        if self._mode is not None:
            for address in range(self._mode[0].address, self._mode[0].address + self._mode[0].count):
                img.setdefault(address, 0)
        img.update(self._written)
        return img

    def decode_setpoint_write(
        self, address: int, values: Sequence[int], registers: Mapping[int, int]
    ) -> float | None:
        """The setpoint (our sign) a received write now commands, or None if not a setpoint write.

        ``registers`` is the device's current image (or just the written range): writes seen
        earlier are remembered, so a command register written after its power register works.
        """
        merged = {**registers, **self._written}
        merged.update(enumerate(values, address))
        self._written.update(enumerate(values, address))
        self._last_regs = merged
        if not set(range(address, address + len(values))) & self._control.setpoint_registers:
            return None
        return self._control.decode(merged, self._nameplate)

    def setpoint_reversion(self) -> Reversion | None:
        """Server side: (seconds or None for never, kW after it) that the written registers ask for.

        None: the mechanism has no reversion registers (the device's own watchdog applies).
        """
        return self._control.reversion(self._last_regs, self._nameplate)

    def extra_unit_ids(self) -> set[int]:
        """Modbus unit ids other than the configured one that reads or writes address."""
        units = {b.unit for b in self.read_plan()} | {w.unit for w in self.safe_writes()}
        units |= {w.unit for w in self.on_connect_writes()}
        return {u for u in units if u is not None}


def _put(img: dict[int, int], point: RegisterPoint, value: float) -> None:
    sf = 0
    if point.sf_address is not None:
        raw_sf = img.get(point.sf_address)
        sf = 0 if raw_sf is None or raw_sf == 0x8000 else int(_to_number(raw_sf, "int16"))
    img.update(enumerate(encode_point(point, value, sf), point.address))
    d = point.direction
    if d is not None:
        device = value * point.sign
        bits = d.positive_mask if device > 0 else d.negative_mask if device < 0 else 0
        clear = ~(d.positive_mask | d.negative_mask) & 0xFFFF
        img[d.address] = (img.get(d.address, 0) & clear) | bits


# --- SunSpec simulator image ---------------------------------------------------------------


def _fit_sf(max_abs: float, reg_type: str) -> int:
    """Smallest scale factor >= 0 so ``max_abs`` fits the type (sentinel excluded)."""
    hi = _LIMITS[reg_type][1] - (1 if reg_type.startswith("u") else 0)
    sf = 0
    while max_abs / 10.0**sf > hi:
        sf += 1
    return sf


def _sunspec_static_image(
    layout: Mapping[int, int], m: Measurements, nameplate: Mapping[str, float]
) -> dict[int, int]:
    img = ss.header_image(dict(layout))
    for model_id, base in layout.items():
        md = ss.model_definition(model_id)
        for p in md.points.values():
            if p.name in ("ID", "L"):
                continue
            ctype = ss.CODEC_TYPES.get(p.type)
            sentinel = ss.NOT_IMPLEMENTED.get(ctype or "")
            acc = p.type.startswith("acc")
            if ctype is None or sentinel is None or acc:
                regs: Sequence[int] = (0,) * p.size
            else:
                regs = encode_registers(_to_number(sentinel, ctype), ctype)
            img.update(enumerate(regs, base + p.offset))
    w_cha = 1000.0 * nameplate["power_charge_max_kw"]
    w_dis = 1000.0 * nameplate["power_discharge_max_kw"]
    w_max = max(w_cha, w_dis)
    wh = 1000.0 * nameplate["energy_capacity_kwh"]
    volts = float(nameplate.get("voltage_nominal_v", 51.2))
    p_w = (m.p_bess_kw or 0.0) * 1000.0
    cha_st = 3 if p_w > 0 else 4 if p_w < 0 else 6  # DISCHARGING / CHARGING / HOLDING
    wh_sf, w_sf = _fit_sf(wh, "uint16"), _fit_sf(w_max, "int16")
    sfs: dict[int, dict[str, int]] = {
        103: {"A_SF": -1, "V_SF": -1, "W_SF": w_sf, "Hz_SF": -2, "VA_SF": w_sf, "VAr_SF": w_sf, "PF_SF": -2,
              "WH_SF": 0, "DCA_SF": -1, "DCV_SF": -1, "DCW_SF": w_sf, "Tmp_SF": -1},
        124: {"WChaMax_SF": _fit_sf(w_cha, "uint16"), "WChaDisChaGra_SF": 0,
              "VAChaMax_SF": _fit_sf(w_cha, "uint16"), "MinRsvPct_SF": 0, "ChaState_SF": -1,
              "StorAval_SF": _fit_sf(wh / volts, "uint16"),
              "InBatV_SF": -1, "InOutWRte_SF": -2},
        701: {"A_SF": -1, "V_SF": -1, "Hz_SF": -2, "W_SF": w_sf, "PF_SF": -3, "VA_SF": w_sf, "Var_SF": w_sf,
              "TotWh_SF": 0, "TotVarh_SF": 0, "Tmp_SF": -1},
        702: {"W_SF": _fit_sf(w_max, "uint16"), "PF_SF": -3, "VA_SF": _fit_sf(w_max, "uint16"),
              "Var_SF": _fit_sf(w_max, "uint16"), "V_SF": -1, "A_SF": -1, "S_SF": 0},
        704: {"PF_SF": -3, "WMaxLimPct_SF": -1, "WSet_SF": 0, "WSetPct_SF": -2, "VarSet_SF": 0,
              "VarSetPct_SF": -2},
        713: {"WH_SF": wh_sf, "Pct_SF": -1},
        714: {"DCA_SF": -1, "DCV_SF": -1, "DCW_SF": _fit_sf(w_max, "int16"), "DCWH_SF": 0, "Tmp_SF": -1},
        802: {"AHRtg_SF": _fit_sf(wh / volts, "uint16"), "WHRtg_SF": wh_sf,
              "WChaDisChaMax_SF": _fit_sf(w_max, "uint16"), "DisChaRte_SF": -1, "SoC_SF": -1, "DoD_SF": -1,
              "SoH_SF": -1, "V_SF": -1, "CellV_SF": -3, "A_SF": -1, "AMax_SF": 0,
              "W_SF": _fit_sf(w_max, "int16")},
    }  # fmt: skip
    wh_avail = wh * (m.soc_pct or 0.0) / 100.0 * (m.soh_pct if m.soh_pct is not None else 100.0) / 100.0
    values: dict[int, dict[str, float | str]] = {
        1: {"Mn": "Phoenyra", "Md": "EMS simulator", "Vr": "0.1.0", "SN": "PHX-SIM-0001", "DA": 1},
        103: {"St": 4 if p_w else 8},  # MPPT (operating) / STANDBY
        124: {"WChaMax": w_cha, "WChaGra": 100, "WDisChaGra": 100, "StorCtl_Mod": 0, "VAChaMax": w_cha,
              "MinRsvPct": 0, "InBatV": volts, "ChaSt": cha_st, "OutWRte": 0, "InWRte": 0,
              "InOutWRte_WinTms": 0, "InOutWRte_RvrtTms": 0, "InOutWRte_RmpTms": 0, "ChaGriSet": 1},
        701: {"ACType": 3, "St": 1, "InvSt": 1 if p_w else 0, "ConnSt": 1, "Alrm": 0, "DERMode": 0},
        702: {"WMaxRtg": w_max, "WChaRteMaxRtg": w_cha, "WDisChaRteMaxRtg": w_dis, "WMax": w_max,
              "WChaRteMax": w_cha, "WDisChaRteMax": w_dis},
        704: {"WMaxLimPctEna": 0, "WMaxLimPct": 100, "WSetEna": 0, "WSetMod": 1, "WSet": 0, "WSetRvrt": 0,
              "WSetPct": 0, "WSetPctRvrt": 0, "WSetEnaRvrt": 0, "WSetRvrtTms": 0},
        713: {"WHRtg": wh, "WHAvail": wh_avail, "Sta": 0},
        714: {"PrtAlrms": 0, "NPrt": 0},
        802: {"AHRtg": wh / volts, "WHRtg": wh, "WChaRteMax": w_cha,
              "WDisChaRteMax": w_dis, "SoCMax": 100, "SoCMin": 0,
              "SocRsvMax": 100, "SoCRsvMin": 0, "DoD": 100.0 - (m.soc_pct or 0.0), "NCyc": 0, "ChaSt": cha_st,
              "LocRemCtl": 0, "Hb": 0, "CtrlHb": 0, "AlmRst": 0, "Typ": 4, "State": 3, "Evt1": 0, "Evt2": 0,
              "EvtVnd1": 0, "EvtVnd2": 0, "V": volts, "A": p_w / volts, "SetOp": 1, "SetInvState": 3},
    }  # fmt: skip
    for model_id, base in layout.items():
        md = ss.model_definition(model_id)
        for name, sf in sfs.get(model_id, {}).items():
            img[base + md.point(name).offset] = sf & 0xFFFF
        for name, value in values.get(model_id, {}).items():
            pd = md.point(name)
            if isinstance(value, str):
                img.update(enumerate(ss.string_registers(value, pd.size), base + pd.offset))
            else:
                _put(img, ss.sunspec_point(dict(layout), model_id, name), float(value))
    return img


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
        control: _Control
        if isinstance(profile.control, SignedPowerControl):
            control = _SignedPower(profile.control)
        elif isinstance(profile.control, ModeMagnitudeControl):
            control = _ModeMagnitude(profile.control)
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
        control = _SunSpecStorage(sunspec_models, revert)
    else:
        control = _SunSpecDerControl(sunspec_models, revert)
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
    "ReadBlock",
    "RegType",
    "RegisterMap",
    "RegisterWrite",
    "SetpointUnavailable",
    "WordOrder",
    "decode_point",
    "decode_registers",
    "encode_point",
    "encode_registers",
    "layout_sunspec_models",
    "resolve_profile",
]
