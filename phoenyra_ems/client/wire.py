"""The wire format, derived from dataclasses: parse JSON into them, dump them to JSON, describe them
as OpenAPI schemas. Standard library only (the client is installed into Home Assistant).

A wire model is a frozen dataclass deriving from :class:`Wire`; its fields and their types *are*
the JSON shape. Supported field types: ``str``, ``int``, ``float`` (finite), ``bool``, ``datetime``
(ISO 8601; naive means UTC), ``StrEnum`` subclasses, other wire models, ``tuple[X, ...]`` (a JSON
list), ``dict[str, X]`` (a JSON object) and ``X | None`` (``null``). ``Any`` passes through.

Rules: a key that is missing or ``null`` gives the field's default when it has one, ``None`` when
its type is optional, and an error naming the JSON path otherwise (``sites[1].bess.soc_min_pct:
expected a finite number, got 'x'``). Unknown keys are ignored (a newer daemon may add fields).

Per-field options (``field(metadata=...)``, build them with :func:`spec`): ``key`` (the JSON name
when it differs), ``at`` (a key path into nested objects, e.g. ``("current", "strategy")``),
``flatten`` (a nested model whose keys sit in this object), ``digits`` (the server rounds the value
to this many decimals), ``positive`` (> 0), ``present`` (the key must be there, even when the
value may be ``null``), ``sent`` (the daemon always sends the key, so the schema lists it as
required, while the parser still takes the default from an older daemon that does not). Adding a
model is writing the dataclass, nothing else.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, fields, is_dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, Self, TypeVar, Union

from phoenyra_ems.client.exceptions import PhoenyraInvalidResponseError

JSON = dict[str, Any]
_T = TypeVar("_T")
_W = TypeVar("_W", bound="Wire")
_NONE = type(None)


def spec(
    *,
    key: str | None = None,
    at: tuple[str, ...] | None = None,
    flatten: bool = False,
    digits: int | None = None,
    positive: bool = False,
    present: bool = False,
    sent: bool = False,
) -> dict[str, Any]:
    """The metadata of a wire field (see the module docstring)."""
    meta: dict[str, Any] = {"present": True} if present else {}
    if sent:
        meta["sent"] = True
    if key is not None or at is not None:
        meta["at"] = at or (key,)
    if flatten:
        meta["flatten"] = True
    if digits is not None:
        meta["digits"] = digits
    if positive:
        meta["positive"] = True
    return meta


KW: dict[str, Any] = spec(digits=3)  # powers: 1 W
PCT: dict[str, Any] = spec(digits=2)  # %, °C
PRICE: dict[str, Any] = spec(digits=2)  # EUR/MWh
KWH: dict[str, Any] = spec(digits=4)  # 0.1 Wh


class Wire:
    """Base of the wire models: ``Model.from_dict(data)`` parses, ``dump(model)`` serialises."""

    __slots__ = ()
    PATH: ClassVar[str] = "response"  # the name of a top-level value in error messages

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> Self:
        return parse(cls, data, cls.PATH if path is None else path)


# --- errors and scalar readers -----------------------------------------------------------------------
def fail(path: str, expected: str, value: Any) -> PhoenyraInvalidResponseError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return PhoenyraInvalidResponseError(f"invalid response: {path}: expected {expected}, got {shown}")


def missing(path: str) -> PhoenyraInvalidResponseError:
    return PhoenyraInvalidResponseError(f"invalid response: {path}: missing")


def as_object(data: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise fail(path, "an object", data)
    return data


def as_number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(path, "a finite number", value)
    return float(value)


def as_time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise fail(path, "an ISO 8601 date-time", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(path, "an ISO 8601 date-time", value) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)  # naive: UTC


def _as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "a string", value)
    return value


def _as_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, "an integer", value)
    return value


def _as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, "true or false", value)
    return value


_SCALARS: dict[Any, Any] = {
    str: _as_str,
    int: _as_int,
    float: as_number,
    bool: _as_bool,
    datetime: as_time,
}


# --- type introspection ------------------------------------------------------------------------------
def _optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` → ``(X, True)``; anything else → ``(tp, False)``."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not _NONE]
        if len(args) < len(typing.get_args(tp)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True  # noqa: UP007
    return tp, False


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    tp: Any
    nullable: bool
    at: tuple[str, ...]
    flatten: bool
    digits: int | None
    positive: bool
    present: bool
    sent: bool
    has_default: bool
    default: Any  # a value or a zero-argument factory (see has_default)


def wire_fields(cls: type) -> tuple[_Field, ...]:
    """The fields of a wire model, with their resolved types and options."""
    return _wire_fields(cls)


@cache
def _wire_fields(cls: Any) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        tp, nullable = _optional(hints[f.name])
        meta = f.metadata
        out.append(
            _Field(
                name=f.name,
                tp=tp,
                nullable=nullable,
                at=meta.get("at", (f.name,)),
                flatten=meta.get("flatten", False),
                digits=meta.get("digits"),
                positive=meta.get("positive", False),
                present=meta.get("present", False),
                sent=meta.get("sent", False),
                has_default=f.default is not MISSING or f.default_factory is not MISSING,
                default=_default(f),
            )
        )
    return tuple(out)


def _default(f: Field[Any]) -> Any:
    if f.default_factory is not MISSING:
        return f.default_factory
    value = f.default
    return lambda: value


# --- parsing ----------------------------------------------------------------------------------------
def parse(cls: type[_T], data: Any, path: str) -> _T:
    """``data`` (decoded JSON) → an instance of the wire model ``cls``; errors name the JSON path."""
    d = as_object(data, path)
    values: dict[str, Any] = {}
    for f in wire_fields(cls):
        if f.flatten:
            values[f.name] = parse(f.tp, d, path)
            continue
        raw, where = _lookup(d, f.at, path)
        if raw is None:
            if f.present and where is _ABSENT_PATH:
                raise missing(f"{path}.{'.'.join(f.at)}")
            if f.has_default:
                values[f.name] = f.default()
            elif f.nullable:
                values[f.name] = None
            elif where is _ABSENT_PATH:
                raise missing(f"{path}.{'.'.join(f.at)}")
            else:
                value_of(f.tp, None, where)  # null for a required field: raises the error
            continue
        value = value_of(f.tp, raw, where)
        if f.positive and value <= 0:
            raise fail(where, "a positive number", value)
        values[f.name] = value
    return cls(**values)


_ABSENT_PATH = "\0missing"


def _lookup(d: Mapping[str, Any], at: tuple[str, ...], path: str) -> tuple[Any, str]:
    """The value at key path ``at`` (``None`` when missing or null on the way) and its JSON path;
    the path is ``_ABSENT_PATH`` when the last key is missing."""
    where = path
    for i, key in enumerate(at):
        where = f"{where}.{key}"
        if key not in d:
            return None, _ABSENT_PATH
        value = d[key]
        if i == len(at) - 1:
            return value, where
        if value is None:
            return None, where
        d = as_object(value, where)
    raise AssertionError("empty key path")


def value_of(tp: Any, value: Any, path: str) -> Any:
    """One JSON value → the Python value of type ``tp`` (see the module docstring)."""
    tp, nullable = _optional(tp)
    if value is None and nullable:
        return None
    reader = _SCALARS.get(tp)
    if reader is not None:
        return reader(value, path)
    if tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except (ValueError, TypeError):
            choices = ", ".join(str(m.value) for m in tp)
            raise fail(path, f"one of {choices}", value) from None
    if isinstance(tp, type) and is_dataclass(tp):
        return parse(tp, value, path)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        if not isinstance(value, list):
            raise fail(path, "a list", value)
        return tuple(value_of(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        obj = as_object(value, path)
        return {str(k): value_of(args[1], v, f"{path}.{k}") for k, v in obj.items()}
    raise TypeError(f"{path}: unsupported wire type {tp!r}")


# --- serialising --------------------------------------------------------------------------------------
def dump(model: Any) -> JSON:
    """A wire model → its JSON object (floats rounded per field, never ``-0.0``)."""
    out: JSON = {}
    for f in wire_fields(type(model)):
        value = getattr(model, f.name)
        if f.flatten:
            out.update(dump(value))
            continue
        target = out
        for key in f.at[:-1]:
            target = target.setdefault(key, {})
        target[f.at[-1]] = _dump_value(value, f.digits)
    return out


def _dump_value(value: Any, digits: int | None) -> Any:
    if value is None or (isinstance(value, bool | str | int) and not isinstance(value, enum.Enum)):
        return value
    if isinstance(value, float):
        return value if digits is None else round(value, digits) + 0.0  # + 0.0: -0.0 becomes 0.0
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value):
        return dump(value)
    if isinstance(value, tuple | list):
        return [_dump_value(v, digits) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _dump_value(v, digits) for k, v in value.items()}
    raise TypeError(f"unsupported wire value {value!r}")


# --- OpenAPI 3.0 schemas ----------------------------------------------------------------------------
_SCHEMAS: dict[Any, JSON] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time"},
    Any: {},
}


def schema(cls: type, ref: Any = None) -> JSON:
    """The OpenAPI 3.0 schema of a wire model; ``ref(model)`` may return a ``$ref`` for nested models
    (``None``: inline them)."""
    properties: JSON = {}
    required: list[str] = []
    nested: list[JSON] = []
    for f in wire_fields(cls):
        if f.flatten:
            nested.append((ref(f.tp) if ref is not None else None) or schema(f.tp, ref))
            continue
        prop = type_schema(f.tp, ref)
        if f.nullable:
            prop = {**prop, "nullable": True} if "$ref" not in prop else {"allOf": [prop], "nullable": True}
        if f.positive:
            prop = {**prop, "exclusiveMinimum": True, "minimum": 0}
        target, need = properties, required
        for key in f.at[:-1]:  # nested keys: an object per level
            holder = target.setdefault(key, {"type": "object", "properties": {}})
            target, need = holder["properties"], holder.setdefault("required", [])
        target[f.at[-1]] = prop
        if f.sent or (not f.has_default and not (f.nullable and len(f.at) > 1)):
            need.append(f.at[-1])
    _drop_empty_required(properties)
    own: JSON = {"type": "object", "properties": properties}
    if required:
        own["required"] = required
    return {"allOf": [*nested, own]} if nested else own


def _drop_empty_required(properties: JSON) -> None:
    for prop in properties.values():
        if isinstance(prop, dict) and "properties" in prop and prop.get("type") == "object":
            if not prop.get("required"):
                prop.pop("required", None)
            _drop_empty_required(prop["properties"])


def type_schema(tp: Any, ref: Any = None) -> JSON:
    """The schema of one field type."""
    tp, nullable = _optional(tp)
    if nullable:
        return {**type_schema(tp, ref), "nullable": True}
    if tp in _SCHEMAS:
        return dict(_SCHEMAS[tp])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if isinstance(tp, type) and is_dataclass(tp):
        found = ref(tp) if ref is not None else None
        return found if found is not None else schema(tp, ref)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        return {"type": "array", "items": type_schema(args[0], ref)}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1], ref)}
    raise TypeError(f"unsupported wire type {tp!r}")


def parse_union(models: Mapping[str, type[_W]], data: Any, path: str, tag: str = "type") -> _W | None:
    """A tagged object (``{"type": "state", ...}``) → the model registered for its tag; ``None`` for
    an unknown tag (forward compatible)."""
    d = as_object(data, path)
    kind = d.get(tag)
    where = f"{path}[{kind}]"
    model = models.get(kind) if isinstance(kind, str) else None
    if model is not None:
        return parse(model, d, where)
    if not isinstance(kind, str):
        raise fail(f"{where}.{tag}", "a string", kind)
    return None
