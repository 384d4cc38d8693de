"""The simulator's register image: what a device built from one of our profiles shows over Modbus.

Built from the driver's own :class:`~phoenyra_ems.devices.codec.RegisterMap` (one source of truth for
addresses, types and scale factors); :class:`RegisterImage` also remembers the control registers
written so far and decodes them back into the commanded setpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from phoenyra_ems.devices import sunspec as ss
from phoenyra_ems.devices.codec import RegisterMap
from phoenyra_ems.devices.controls import Reversion
from phoenyra_ems.devices.registers import (
    LIMITS,
    decode_point,
    encode_point,
    encode_registers,
    regs_getter,
    to_number,
)
from phoenyra_ems.models import Measurements
from phoenyra_ems.profiles.loader import RegisterPoint


class RegisterImage:
    """The server side of one device: its full register image and the setpoint writes it received."""

    def __init__(self, register_map: RegisterMap) -> None:
        self.register_map = register_map
        self._written: dict[int, int] = {}  # control registers written so far
        self._nameplate: dict[str, float] = {}  # the device's ratings (from image())
        self._last_regs: dict[int, int] = {}  # registers as of the last setpoint write

    def image(self, m: Measurements, nameplate: Mapping[str, float]) -> dict[int, int]:
        """Full register image (address -> uint16) showing ``m``; setpoint in its safe state."""
        rmap = self.register_map
        self._nameplate = dict(nameplate)
        img: dict[int, int] = {}
        if rmap.sunspec_models is not None:
            img.update(sunspec_static_image(rmap.sunspec_models, m, nameplate))
        get = regs_getter(img)
        # single points first: a sum's first term absorbs what shared registers already show
        for name, points in sorted(rmap.image_points.items(), key=lambda kv: len(kv[1])):
            value = cast(float | None, getattr(m, name))
            if rmap.sunspec_models is not None:
                for p in points:
                    if value is not None:
                        put_point(img, p, value)
                continue
            first, rest = points[0], points[1:]
            for p in rest:
                if any(p.address + i not in img for i in range(p.count)):
                    put_point(img, p, 0.0)
            if value is None:
                if first.invalid:
                    reg_type = "uint32" if first.count == 2 else "uint16"
                    regs = encode_registers(first.invalid[0], reg_type, first.word_order)
                    img.update(enumerate(regs, first.address))
                continue
            others = [decode_point(p, get) for p in rest]
            put_point(img, first, value - sum(v or 0.0 for v in others))
        for write in rmap.control.stop():
            img.update(enumerate(write.values, write.address))
        # registers the driver writes on connect / reads as the mode exist (0) before it does
        for w in (*rmap.profile.on_connect, *rmap.profile.safe):
            for address in range(w.address, w.address + len(w.values)):
                img.setdefault(address, 0)
        mode = rmap.mode_point
        if mode is not None:
            for address in range(mode.address, mode.address + mode.count):
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
        control = self.register_map.control
        if not set(range(address, address + len(values))) & control.setpoint_registers:
            return None
        return control.decode(merged, self._nameplate)

    def setpoint_reversion(self) -> Reversion | None:
        """(seconds or None for never, kW after it) that the written registers ask for.

        None: the mechanism has no reversion registers (the device's own watchdog applies).
        """
        return self.register_map.control.reversion(self._last_regs, self._nameplate)


def put_point(img: dict[int, int], point: RegisterPoint, value: float) -> None:
    """Write ``value`` (our units and sign) into ``img`` at ``point``, scaled by its SF in the image."""
    sf = 0
    if point.sf_address is not None:
        raw_sf = img.get(point.sf_address)
        sf = 0 if raw_sf is None or raw_sf == 0x8000 else int(to_number(raw_sf, "int16"))
    img.update(enumerate(encode_point(point, value, sf), point.address))
    d = point.direction
    if d is not None:
        device = value * point.sign
        bits = d.positive_mask if device > 0 else d.negative_mask if device < 0 else 0
        clear = ~(d.positive_mask | d.negative_mask) & 0xFFFF
        img[d.address] = (img.get(d.address, 0) & clear) | bits


# --- SunSpec simulator image ---------------------------------------------------------------


def fit_sf(max_abs: float, reg_type: str) -> int:
    """Smallest scale factor >= 0 so ``max_abs`` fits the type (sentinel excluded)."""
    hi = LIMITS[reg_type][1] - (1 if reg_type.startswith("u") else 0)
    sf = 0
    while max_abs / 10.0**sf > hi:
        sf += 1
    return sf


def sunspec_static_image(
    layout: Mapping[int, int], m: Measurements, nameplate: Mapping[str, float]
) -> dict[int, int]:
    """Every model of ``layout``: not-implemented sentinels, then scale factors and plausible values."""
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
                regs = encode_registers(to_number(sentinel, ctype), ctype)
            img.update(enumerate(regs, base + p.offset))
    w_cha = 1000.0 * nameplate["power_charge_max_kw"]
    w_dis = 1000.0 * nameplate["power_discharge_max_kw"]
    w_max = max(w_cha, w_dis)
    wh = 1000.0 * nameplate["energy_capacity_kwh"]
    volts = float(nameplate.get("voltage_nominal_v", 51.2))
    p_w = (m.p_bess_kw or 0.0) * 1000.0
    cha_st = 3 if p_w > 0 else 4 if p_w < 0 else 6  # DISCHARGING / CHARGING / HOLDING
    wh_sf, w_sf = fit_sf(wh, "uint16"), fit_sf(w_max, "int16")
    sfs: dict[int, dict[str, int]] = {
        103: {"A_SF": -1, "V_SF": -1, "W_SF": w_sf, "Hz_SF": -2, "VA_SF": w_sf, "VAr_SF": w_sf, "PF_SF": -2,
              "WH_SF": 0, "DCA_SF": -1, "DCV_SF": -1, "DCW_SF": w_sf, "Tmp_SF": -1},
        124: {"WChaMax_SF": fit_sf(w_cha, "uint16"), "WChaDisChaGra_SF": 0,
              "VAChaMax_SF": fit_sf(w_cha, "uint16"), "MinRsvPct_SF": 0, "ChaState_SF": -1,
              "StorAval_SF": fit_sf(wh / volts, "uint16"),
              "InBatV_SF": -1, "InOutWRte_SF": -2},
        701: {"A_SF": -1, "V_SF": -1, "Hz_SF": -2, "W_SF": w_sf, "PF_SF": -3, "VA_SF": w_sf, "Var_SF": w_sf,
              "TotWh_SF": 0, "TotVarh_SF": 0, "Tmp_SF": -1},
        702: {"W_SF": fit_sf(w_max, "uint16"), "PF_SF": -3, "VA_SF": fit_sf(w_max, "uint16"),
              "Var_SF": fit_sf(w_max, "uint16"), "V_SF": -1, "A_SF": -1, "S_SF": 0},
        704: {"PF_SF": -3, "WMaxLimPct_SF": -1, "WSet_SF": 0, "WSetPct_SF": -2, "VarSet_SF": 0,
              "VarSetPct_SF": -2},
        713: {"WH_SF": wh_sf, "Pct_SF": -1},
        714: {"DCA_SF": -1, "DCV_SF": -1, "DCW_SF": fit_sf(w_max, "int16"), "DCWH_SF": 0, "Tmp_SF": -1},
        802: {"AHRtg_SF": fit_sf(wh / volts, "uint16"), "WHRtg_SF": wh_sf,
              "WChaDisChaMax_SF": fit_sf(w_max, "uint16"), "DisChaRte_SF": -1, "SoC_SF": -1, "DoD_SF": -1,
              "SoH_SF": -1, "V_SF": -1, "CellV_SF": -3, "A_SF": -1, "AMax_SF": 0,
              "W_SF": fit_sf(w_max, "int16")},
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
                put_point(img, ss.sunspec_point(dict(layout), model_id, name), float(value))
    return img
