"""SunSpec: model definitions (generated from the official JSON), discovery scan and layout.

Nothing here hard-codes an absolute address: a device is scanned for the ``SunS`` marker
(at 40000, then 0, then 50000) and its (model id, length) chain is walked until 0xFFFF.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from phoenyra_ems.profiles.loader import DeviceProfile, RegisterPoint, RegType

MARKER = (0x5375, 0x6E53)  # "SunS"
END_ID = 0xFFFF
SCAN_STARTS = (40000, 0, 50000)
DEFAULT_MODELS = (1, 124, 704, 713, 714, 802)
MODELS_FILE = Path(__file__).with_name("sunspec_models.json")

# SunSpec "not implemented" values, by register type (float32: NaN).
NOT_IMPLEMENTED = {
    "int16": 0x8000,
    "uint16": 0xFFFF,
    "int32": 0x80000000,
    "uint32": 0xFFFFFFFF,
}
_SIZES = {
    "int16": 1, "uint16": 1, "enum16": 1, "bitfield16": 1, "sunssf": 1, "pad": 1, "count": 1,
    "acc16": 1, "int32": 2, "uint32": 2, "enum32": 2, "bitfield32": 2, "acc32": 2,
    "float32": 2, "ipaddr": 2, "int64": 4, "uint64": 4, "acc64": 4, "float64": 4,
}  # fmt: skip
# SunSpec point type -> register codec type (None: not a number we decode).
CODEC_TYPES = {
    "int16": "int16", "sunssf": "int16", "uint16": "uint16", "enum16": "uint16",
    "bitfield16": "uint16", "count": "uint16", "acc16": "uint16", "int32": "int32",
    "uint32": "uint32", "enum32": "uint32", "bitfield32": "uint32", "acc32": "uint32",
    "float32": "float32",
}  # fmt: skip


class SunSpecNotFound(LookupError):
    """No SunSpec marker at any of the well-known base addresses."""


@dataclass(frozen=True)
class PointDef:
    name: str
    offset: int  # from the model's ID register
    type: str
    size: int
    sf: str | None = None
    units: str | None = None
    writable: bool = False


@dataclass(frozen=True)
class ModelDef:
    id: int
    name: str
    points: dict[str, PointDef]  # fixed block (incl. ID and L) and non-repeating groups
    fixed_length: int  # registers incl. the two header registers
    repeat_size: int = 0  # size of one repeating group instance (e.g. model 714 ports)
    repeat_count_point: str | None = None

    def length(self, repeats: int = 0) -> int:
        """The model's ``L`` register value."""
        return self.fixed_length - 2 + repeats * self.repeat_size

    def point(self, name: str) -> PointDef:
        try:
            return self.points[name]
        except KeyError:
            raise KeyError(f"SunSpec model {self.id} has no point {name!r}") from None


def _size(raw: dict[str, Any]) -> int:
    size = raw.get("size")
    return int(size) if isinstance(size, int) else _SIZES[str(raw["type"])]


def _point(raw: dict[str, Any], offset: int, prefix: str = "") -> PointDef:
    sf = raw.get("sf")
    units = raw.get("units")
    return PointDef(
        name=prefix + str(raw["name"]),
        offset=offset,
        type=str(raw["type"]),
        size=_size(raw),
        sf=str(sf) if sf is not None else None,
        units=str(units) if units is not None else None,
        writable=raw.get("access") == "RW",
    )


def _model(model_id: int, raw: dict[str, Any]) -> ModelDef:
    points: dict[str, PointDef] = {}
    offset = 0
    for p in raw["points"]:
        points[p["name"]] = _point(p, offset)
        offset += _size(p)
    repeat_size, count_point = 0, None
    for group in raw.get("groups", []):
        if "count" in group:  # repeating group: always after the fixed block
            repeat_size = sum(_size(p) for p in group["points"])
            count_point = str(group["count"])
            continue
        for p in group["points"]:
            pd = _point(p, offset, prefix=f"{group['name']}.")
            points[pd.name] = pd
            offset += pd.size
    return ModelDef(model_id, str(raw["name"]), points, offset, repeat_size, count_point)


@cache
def model_definitions() -> dict[int, ModelDef]:
    """The shipped models (1, 103, 124, 701, 702, 704, 713, 714, 802), from ``sunspec_models.json``.

    That file is generated from the official definitions by ``scripts/update_sunspec_models.py``.
    """
    data = json.loads(MODELS_FILE.read_text(encoding="utf-8"))
    return {int(k): _model(int(k), v) for k, v in data["models"].items()}


def model_definition(model_id: int) -> ModelDef:
    try:
        return model_definitions()[model_id]
    except KeyError:
        raise KeyError(f"no definition shipped for SunSpec model {model_id}") from None


ReadFn = Callable[[int, int], Awaitable[list[int] | None]]


class SunSpecModels(dict[int, int]):
    """A scan result: model id -> address of its ID register, plus each model's ``L`` as read.

    A device may implement an older definition of a model (713 used to have 6 registers and no
    ``Pct_SF``): points beyond the length it reports are not read from the next model.
    """

    def __init__(self, addresses: Mapping[int, int] | None = None, lengths: Mapping[int, int] | None = None):
        super().__init__(addresses or {})
        self.lengths: dict[int, int] = dict(lengths or {})


async def scan_sunspec(read: ReadFn, *, max_models: int = 64) -> SunSpecModels:
    """Find the SunSpec map: model id -> address of its ID register (first instance wins).

    ``read(address, count)`` returns the registers, or None when the read failed.
    """
    for start in SCAN_STARTS:
        marker = await read(start, 2)
        if marker is None or tuple(marker[:2]) != MARKER:
            continue
        models = SunSpecModels()
        address = start + 2
        for _ in range(max_models):
            header = await read(address, 2)
            if header is None or len(header) < 2 or header[0] in (END_ID, 0):
                break
            model_id, length = header[0], header[1]
            if model_id not in models:
                models[model_id] = address
                models.lengths[model_id] = length
            address += 2 + length
            if address > 0xFFFF:
                break
        return models
    raise SunSpecNotFound(
        f"no SunSpec marker 'SunS' at {', '.join(map(str, SCAN_STARTS))} (not a SunSpec device?)"
    )


def layout_sunspec_models(
    models: DeviceProfile | Iterable[int] | None = None, base: int = 40000
) -> dict[int, int]:
    """Place models back to back after the marker at ``base`` (as a device would).

    ``models``: model ids, or a profile / None for DEFAULT_MODELS (1, 124, 704, 713, 714, 802).
    """
    ids = DEFAULT_MODELS if models is None or isinstance(models, DeviceProfile) else tuple(models)
    layout: dict[int, int] = {}
    address = base + 2
    for model_id in ids:
        layout[model_id] = address
        address += model_definition(model_id).fixed_length
    return layout


def header_image(layout: dict[int, int]) -> dict[int, int]:
    """Marker, model ids and lengths and the end marker for a back-to-back layout."""
    if not layout:
        return {}
    ordered = sorted(layout.items(), key=lambda item: item[1])
    image = {ordered[0][1] - 2: MARKER[0], ordered[0][1] - 1: MARKER[1]}
    end = 0
    for model_id, address in ordered:
        model = model_definition(model_id)
        image[address] = model_id
        image[address + 1] = model.length()
        end = address + model.fixed_length
    image[end], image[end + 1] = END_ID, 0
    return image


def string_registers(text: str, size: int) -> list[int]:
    """A SunSpec string (NUL padded, two characters per register)."""
    data = text.encode("ascii", "replace")[: size * 2].ljust(size * 2, b"\0")
    return [(data[i] << 8) | data[i + 1] for i in range(0, size * 2, 2)]


class PointNotImplemented(LookupError):
    """The point lies beyond the length the device reports for its model (an older definition)."""


def sunspec_point(
    layout: Mapping[int, int], model_id: int, name: str, *, scale: float = 1.0, sign: int = 1
) -> RegisterPoint:
    """A numeric SunSpec point as a :class:`RegisterPoint` (sentinel and scale factor set).

    With a scan result (:class:`SunSpecModels`), the model's reported length is respected: a
    point beyond it raises :class:`PointNotImplemented`; a scale factor beyond it is one the
    device's definition does not have (legacy 713 ``SoC`` in whole percent), so none is applied.
    """
    md = model_definition(model_id)
    pd = md.point(name)
    reported = layout.lengths.get(model_id) if isinstance(layout, SunSpecModels) else None
    end = md.fixed_length if reported is None else reported + 2
    if pd.offset + pd.size > end:
        raise PointNotImplemented(f"SunSpec model {model_id} is {reported} registers long: no {name}")
    sf = pd.sf if pd.sf and md.point(pd.sf).offset < end else None
    ctype = CODEC_TYPES.get(pd.type)
    if ctype is None:
        raise ValueError(f"SunSpec point {model_id}:{name} is a {pd.type}, not a number")
    sentinel = NOT_IMPLEMENTED.get(ctype)
    invalid = () if sentinel is None or pd.type.startswith("acc") else (sentinel,)
    base = layout[model_id]
    return RegisterPoint(
        address=base + pd.offset,
        table="holding",
        type=cast(RegType, ctype),
        scale=scale,
        sign=sign,
        sf_address=base + md.point(sf).offset if sf else None,
        invalid=invalid,
    )
