"""The setpoint mechanisms a profile can declare: signed power, mode + magnitude, SunSpec 124 / 704.

Each encodes a setpoint (our sign: + discharge) into register writes for the driver and decodes
written registers back into the commanded power for the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from phoenyra_ems.devices import sunspec as ss
from phoenyra_ems.devices.registers import (
    Getter,
    RegisterWrite,
    SetpointUnavailable,
    decode_point,
    encode_point,
    encode_registers,
    point_items,
    point_range,
    read_scale_factor,
    regs_getter,
    static_items,
    to_number,
    write_runs,
)
from phoenyra_ems.profiles.loader import ModeMagnitudeControl, RegisterPoint, SignedPowerControl

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


class Control:
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


class SignedPower(Control):
    def __init__(self, spec: SignedPowerControl) -> None:
        self.point = spec.setpoint
        self.also = spec.also
        self.setpoint_registers = frozenset(range(self.point.address, self.point.address + self.point.count))

    def encode(self, kw: float, statics: Mapping[str, float | None]) -> list[RegisterWrite]:
        lo, hi = point_range(self.point)
        regs = encode_point(self.point, min(max(kw, lo), hi))
        unit = self.point.unit_id
        return write_runs(point_items(self.point, regs, unit) + static_items(self.also, unit))

    def stop(self) -> list[RegisterWrite]:
        return self.encode(0.0, {})

    def decode(self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None) -> float | None:
        return decode_point(self.point, regs_getter(regs))

    def range_kw(self, statics: Mapping[str, float | None]) -> tuple[float, float]:
        return point_range(self.point)


class ModeMagnitude(Control):
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
        items = point_items(point, encode_point(point, magnitude), unit)
        items += point_items(s.command, (cmd,), unit) + static_items(s.also, unit)
        return write_runs(items, last=s.command.address)

    def stop(self) -> list[RegisterWrite]:
        s = self.spec
        unit = s.command.unit_id
        items = [
            item
            for p in {s.charge_power, s.discharge_power}
            for item in point_items(p, encode_point(p, 0.0), unit)
        ]
        items += point_items(s.command, (s.stop,), unit) + static_items(s.also, unit)
        return write_runs(items, last=s.command.address)

    def decode(self, regs: Mapping[int, int], nameplate: Mapping[str, float] | None = None) -> float | None:
        s, get = self.spec, regs_getter(regs)
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


class SunSpecStorage(Control):
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
        return [*write_runs([(None, a, v) for a, v in rates.items()]), RegisterWrite(o["StorCtl_Mod"], (3,))]

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
        get, o = regs_getter(regs), self.off
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
            lo = -to_number(raw, "int16") * 10.0**sf / 100.0 * wcha
        if mode & 2:  # DISCHARGE: discharge limited to OutWRte % of WDisChaMax
            raw = regs.get(o["OutWRte"])
            if raw is None or raw == 0x8000:
                return None
            hi = to_number(raw, "int16") * 10.0**sf / 100.0 * wdis
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


class SunSpecDerControl(Control):
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
        get = regs_getter(regs)
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
