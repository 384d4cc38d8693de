"""Pure (no I/O) conversion between Modbus registers and numbers: types, word order, scale factors.

The primitives both sides of a device share: the driver's :class:`~phoenyra_ems.devices.codec.RegisterMap`
and the simulator's register image.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from phoenyra_ems.profiles.loader import RegisterPoint, StaticWrite

LIMITS: dict[str, tuple[int, int]] = {
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
    return to_number(_assemble(regs, word_order), reg_type)


def encode_registers(value: float, reg_type: str, word_order: str = "big") -> tuple[int, ...]:
    """Number -> registers, rounded and clamped to the type's range."""
    if reg_type == "float32":
        packed = int.from_bytes(struct.pack(">f", value), "big")
    else:
        lo, hi = LIMITS[reg_type]
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


def to_number(packed: int, reg_type: str) -> int | float:
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
    sf = int(to_number(raw, "int16"))
    return sf if -10 <= sf <= 10 else None


def decode_point(point: RegisterPoint, get: Getter) -> float | None:
    """One point in our units and sign; None for missing/invalid/not-implemented values."""
    regs = [get(point.table, point.address + i) for i in range(point.count)]
    if any(r is None for r in regs):
        return None
    packed = _assemble(cast(list[int], regs), point.word_order)
    if packed in point.invalid:
        return None
    value = float(to_number(packed, point.type))
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
    lo, hi = LIMITS.get(point.type, (-3.4e38, 3.4e38))
    ends = sorted(v * point.scale * 10.0**sf * point.sign for v in (lo, hi))
    return ends[0], ends[1]


def write_runs(items: Iterable[tuple[int | None, int, int]], last: int | None = None) -> list[RegisterWrite]:
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


def point_items(
    point: RegisterPoint, regs: Sequence[int], unit: int | None
) -> list[tuple[int | None, int, int]]:
    return [(unit, point.address + i, r) for i, r in enumerate(regs)]


def static_items(writes: Iterable[StaticWrite], unit: int | None) -> list[tuple[int | None, int, int]]:
    return [
        (w.unit_id if w.unit_id is not None else unit, w.address + i, v)
        for w in writes
        for i, v in enumerate(w.values)
    ]


def regs_getter(regs: Mapping[int, int]) -> Getter:
    return lambda _table, address: regs.get(address)
