"""Device profiles: register maps as data (``profiles/*.yaml``), loaded and validated.

A profile states device facts (register, table, type, raw scale, device unit, word order,
the device's sign convention) and the loader turns them into :class:`RegisterPoint` objects
whose ``scale``/``sign`` convert raw registers straight into our units and sign convention
(kW, %, °C; ``p_bess`` > 0 discharging, ``p_grid`` > 0 importing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Literal, cast

import yaml

from phoenyra_ems.profiles.catalog import known_profiles, profile_path
from phoenyra_ems.profiles.model import (
    MEASUREMENT_NAMES,
    REG_TYPES,
    Control,
    DeviceProfile,
    Direction,
    Measure,
    ModeMagnitudeControl,
    ModeSpec,
    PointSum,
    ProfileError,
    ProfileParameter,
    RegisterPoint,
    RegType,
    SensorRegister,
    SignedPowerControl,
    StaticWrite,
    SunSpecChoice,
    SunSpecControl,
    SunSpecRef,
    Table,
    UnknownProfileError,
    WordOrder,
)

_UNIT_FACTORS = {"W": 0.001, "kW": 1.0, "%": 1.0, "°C": 1.0, "C": 1.0}
SENSOR_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def load_profile(name: str) -> DeviceProfile:
    """Load and validate ``profiles/<name>.yaml``."""
    known = known_profiles()
    if name not in known:
        raise UnknownProfileError(f"unknown device profile {name!r}; known profiles: {', '.join(known)}")
    return parse_profile_file(profile_path(name))


def apply_parameters(profile: DeviceProfile, values: Mapping[str, float]) -> DeviceProfile:
    """``profile`` with a site's ``modbus.parameters``: each value multiplies the scale of its
    parameter's measurements (relative to the parameter's default). Unknown names raise
    :class:`ProfileError` listing the profile's parameters."""
    if not values:
        return profile
    measurements = dict(profile.measurements)
    for name, value in values.items():
        parameter = profile.parameters.get(name)
        if parameter is None:
            known = ", ".join(profile.parameters) or "none"
            raise ProfileError(
                f"profile {profile.name!r} has no parameter {name!r} (its parameters: {known})"
            )
        factor = value / parameter.default
        for point in parameter.points:
            measurements[point] = _scaled(measurements[point], factor)
    return replace(profile, measurements=measurements)


def _scaled(measure: Measure, factor: float) -> Measure:
    if isinstance(measure, RegisterPoint):
        return replace(measure, scale=measure.scale * factor)
    if isinstance(measure, PointSum):
        return PointSum(tuple(replace(term, scale=term.scale * factor) for term in measure.terms))
    raise ProfileError("a SunSpec point takes its scale from the device's scale factors")


def parse_profile_file(path: Path) -> DeviceProfile:
    """Parse one profile file (raises :class:`ProfileError` naming file and key)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ProfileError(f"{path.name}: not valid YAML: {err}") from err
    return _Parser(path.name).profile(data, path.stem)


class _Parser:
    """Walks the YAML tree, keeping the key path for error messages."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.word_order: WordOrder = "big"

    def fail(self, key: str, message: str) -> ProfileError:
        return ProfileError(f"{self.filename}: {key}: {message}")

    def mapping(self, value: object, key: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        return {str(k): v for k, v in value.items()}

    def integer(self, value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {value!r}")
        return value

    def number(self, value: object, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        return float(value)

    def text(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def choice(self, value: object, key: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.fail(key, f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    def sign(self, value: object, key: str) -> int:
        if value not in (1, -1):
            raise self.fail(key, f"expected 1 or -1, got {value!r}")
        return 1 if value == 1 else -1

    def optional_unit(self, raw: dict[str, object], key: str) -> int | None:
        value = raw.get("unit_id")
        return None if value is None else self.integer(value, f"{key}.unit_id")

    def profile(self, data: object, stem: str) -> DeviceProfile:
        raw = self.mapping(data, "<top>")
        name = self.text(raw.get("name"), "name")
        if name != stem:
            raise self.fail("name", f"must equal the file name {stem!r}, got {name!r}")
        kind = self.choice(raw.get("kind", "registers"), "kind", ("registers", "sunspec"))
        self.word_order = cast(
            WordOrder, self.choice(raw.get("word_order", "big"), "word_order", ("big", "little"))
        )
        measurements_raw = self.mapping(raw.get("measurements"), "measurements")
        measurements: dict[str, Measure] = {}
        for mname, spec in measurements_raw.items():
            key = f"measurements.{mname}"
            if mname not in MEASUREMENT_NAMES:
                raise self.fail(key, f"unknown measurement; use one of {', '.join(MEASUREMENT_NAMES)}")
            measurements[mname] = self.measure(spec, key, mname)
        revert = raw.get("revert_timeout_s")
        mode = raw.get("mode")
        return DeviceProfile(
            name=name,
            vendor=self.text(raw.get("vendor"), "vendor"),
            description=self.text(raw.get("description"), "description"),
            source=self.text(raw.get("source"), "source"),
            kind=cast(Literal["registers", "sunspec"], kind),
            unit_id=self.integer(raw.get("unit_id", 1), "unit_id"),
            measurements=measurements,
            control=self.control(raw.get("control"), "control", kind),
            revert_timeout_s=None if revert is None else self.number(revert, "revert_timeout_s"),
            on_connect=self.writes(raw.get("on_connect", []), "on_connect"),
            safe=self.writes(raw.get("safe", []), "safe"),
            mode=None if mode is None else self.mode(mode, "mode"),
            sensors=self.sensors(raw.get("sensors", {}), "sensors"),
            parameters=self.parameters(raw.get("parameters", {}), "parameters", measurements),
        )

    def parameters(
        self, spec: object, key: str, measurements: Mapping[str, Measure]
    ) -> dict[str, ProfileParameter]:
        """``<name>: {points: [measurement, ...], default: 1, description}`` (scale multipliers)."""
        out = {}
        for name, item in self.mapping(spec, key).items():
            raw = self.mapping(item, f"{key}.{name}")
            points = raw.get("points")
            if not isinstance(points, list) or not points:
                raise self.fail(f"{key}.{name}.points", "expected a non-empty list of measurement names")
            for point in points:
                measure = measurements.get(str(point))
                if measure is None:
                    raise self.fail(f"{key}.{name}.points", f"{point!r} is not a measurement of this profile")
                if not isinstance(measure, RegisterPoint | PointSum):
                    raise self.fail(
                        f"{key}.{name}.points", f"{point!r} is a SunSpec point (scaled by the device)"
                    )
            default = self.number(raw.get("default", 1.0), f"{key}.{name}.default")
            if default <= 0:
                raise self.fail(f"{key}.{name}.default", "must be positive")
            out[name] = ProfileParameter(
                name=name,
                points=tuple(str(p) for p in points),
                description=self.text(raw.get("description"), f"{key}.{name}.description"),
                default=default,
            )
        return out

    def sensors(self, spec: object, key: str) -> dict[str, SensorRegister]:
        """Named sensor registers: ``<name>: {register, table, type, scale, unit, invalid, description}``."""
        out: dict[str, SensorRegister] = {}
        for name, item in self.mapping(spec, key).items():
            k = f"{key}.{name}"
            if not name or not set(name) <= SENSOR_NAME_CHARS:
                raise self.fail(k, "a sensor name uses lowercase letters, digits and '_'")
            raw = self.mapping(item, k)
            unit = raw.get("unit")
            description = raw.get("description", "")
            point = self.point(
                {key_: value for key_, value in raw.items() if key_ not in ("unit", "description")}, k, "%"
            )
            out[name] = SensorRegister(
                point,
                None if unit is None else self.text(unit, f"{k}.unit"),
                "" if not description else self.text(description, f"{k}.description"),
            )
        return out

    def measure(self, spec: object, key: str, mname: str) -> Measure:
        raw = self.mapping(spec, key)
        target = "kW" if mname.endswith("_kw") else ("°C" if mname == "temp_c" else "%")
        if "sunspec" in raw:
            refs = raw["sunspec"]
            items = refs if isinstance(refs, list) else [refs]
            sign = self.sign(raw.get("sign", 1), f"{key}.sign")
            return SunSpecChoice(tuple(self.sunspec_ref(r, f"{key}.sunspec", sign) for r in items))
        if "sum" in raw:
            terms = raw["sum"]
            if not isinstance(terms, list) or not terms:
                raise self.fail(f"{key}.sum", "expected a non-empty list of registers")
            return PointSum(tuple(self.point(t, f"{key}.sum[{i}]", target) for i, t in enumerate(terms)))
        return self.point(raw, key, target)

    def sunspec_ref(self, value: object, key: str, sign: int) -> SunSpecRef:
        text = self.text(value, key)
        model, sep, point = text.partition(":")
        if not sep or not model.isdigit() or not point:
            raise self.fail(key, f"expected 'model:Point' (e.g. '802:SoC'), got {text!r}")
        return SunSpecRef(int(model), point, sign)

    def point(self, spec: object, key: str, target: str) -> RegisterPoint:
        raw = self.mapping(spec, key)
        if "register" not in raw:
            raise self.fail(f"{key}.register", "missing")
        unit = raw.get("unit", target)
        if unit not in _UNIT_FACTORS:
            raise self.fail(f"{key}.unit", f"expected one of {', '.join(_UNIT_FACTORS)}, got {unit!r}")
        factor = _UNIT_FACTORS[str(unit)] if target == "kW" else 1.0
        if target == "kW" and unit not in ("W", "kW"):
            raise self.fail(f"{key}.unit", f"a power needs W or kW, got {unit!r}")
        invalid = raw.get("invalid", [])
        if not isinstance(invalid, list):
            raise self.fail(f"{key}.invalid", "expected a list of raw register values")
        direction = raw.get("direction")
        return RegisterPoint(
            address=self.integer(raw["register"], f"{key}.register"),
            table=cast(Table, self.choice(raw.get("table", "holding"), f"{key}.table", ("holding", "input"))),
            type=cast(RegType, self.choice(raw.get("type", "uint16"), f"{key}.type", REG_TYPES)),
            scale=self.number(raw.get("scale", 1.0), f"{key}.scale") * factor,
            word_order=cast(
                WordOrder,
                self.choice(raw.get("word_order", self.word_order), f"{key}.word_order", ("big", "little")),
            ),
            sign=self.sign(raw.get("sign", 1), f"{key}.sign"),
            unit_id=self.optional_unit(raw, key),
            invalid=tuple(self.integer(v, f"{key}.invalid") for v in invalid),
            direction=None if direction is None else self.direction(direction, f"{key}.direction"),
        )

    def direction(self, spec: object, key: str) -> Direction:
        raw = self.mapping(spec, key)
        return Direction(
            address=self.integer(raw.get("register"), f"{key}.register"),
            table=cast(Table, self.choice(raw.get("table", "input"), f"{key}.table", ("holding", "input"))),
            positive_mask=self.integer(raw.get("positive_mask"), f"{key}.positive_mask"),
            negative_mask=self.integer(raw.get("negative_mask"), f"{key}.negative_mask"),
            unit_id=self.optional_unit(raw, key),
        )

    def writes(self, spec: object, key: str) -> tuple[StaticWrite, ...]:
        if not isinstance(spec, list):
            raise self.fail(key, "expected a list of {register, values}")
        out = []
        for i, item in enumerate(spec):
            k = f"{key}[{i}]"
            raw = self.mapping(item, k)
            values = raw.get("values", [raw["value"]] if "value" in raw else None)
            if not isinstance(values, list) or not values:
                raise self.fail(f"{k}.values", "expected a non-empty list of register values")
            regs = tuple(self.integer(v, f"{k}.values") for v in values)
            if any(not 0 <= v <= 0xFFFF for v in regs):
                raise self.fail(f"{k}.values", "register values must be 0..65535")
            out.append(
                StaticWrite(
                    self.integer(raw.get("register"), f"{k}.register"), regs, self.optional_unit(raw, k)
                )
            )
        return tuple(out)

    def mode(self, spec: object, key: str) -> ModeSpec:
        raw = self.mapping(spec, key)
        values_raw = self.mapping(raw.get("values"), f"{key}.values")
        values = {int(k, 0): self.text(v, f"{key}.values.{k}") for k, v in values_raw.items()}
        if "sunspec" in raw:
            return ModeSpec(self.sunspec_ref(raw["sunspec"], f"{key}.sunspec", 1), values)
        return ModeSpec(self.point({k: v for k, v in raw.items() if k != "values"}, key, "%"), values)

    def control(self, spec: object, key: str, kind: str) -> Control:
        raw = self.mapping(spec, key)
        ctype = self.choice(raw.get("type"), f"{key}.type", ("signed_power", "mode_magnitude", "sunspec"))
        if (ctype == "sunspec") != (kind == "sunspec"):
            raise self.fail(f"{key}.type", "'sunspec' control needs 'kind: sunspec' and vice versa")
        also = self.writes(raw.get("also", []), f"{key}.also")
        if ctype == "sunspec":
            prefer = raw.get("prefer", [124, 704])
            if not isinstance(prefer, list) or any(p not in (124, 704) for p in prefer):
                raise self.fail(f"{key}.prefer", "expected a list drawn from 124, 704")
            return SunSpecControl(tuple(cast(list[int], prefer)))
        if ctype == "signed_power":
            return SignedPowerControl(self.point(raw.get("setpoint"), f"{key}.setpoint", "kW"), also)
        cmd = self.mapping(raw.get("command"), f"{key}.command")
        command = self.point(
            {k: v for k, v in cmd.items() if k not in ("charge", "discharge", "stop")}, f"{key}.command", "%"
        )
        if "power" in raw:
            charge_power = discharge_power = self.point(raw["power"], f"{key}.power", "kW")
        else:
            charge_power = self.point(raw.get("charge_power"), f"{key}.charge_power", "kW")
            discharge_power = self.point(raw.get("discharge_power"), f"{key}.discharge_power", "kW")
        return ModeMagnitudeControl(
            command=command,
            charge=self.integer(cmd.get("charge"), f"{key}.command.charge"),
            discharge=self.integer(cmd.get("discharge"), f"{key}.command.discharge"),
            stop=self.integer(cmd.get("stop"), f"{key}.command.stop"),
            charge_power=charge_power,
            discharge_power=discharge_power,
            also=also,
        )


__all__ = [
    "MEASUREMENT_NAMES",
    "REG_TYPES",
    "SENSOR_NAME_CHARS",
    "Control",
    "DeviceProfile",
    "Direction",
    "Measure",
    "ModeMagnitudeControl",
    "ModeSpec",
    "PointSum",
    "ProfileError",
    "ProfileParameter",
    "RegType",
    "RegisterPoint",
    "SensorRegister",
    "SignedPowerControl",
    "StaticWrite",
    "SunSpecChoice",
    "SunSpecControl",
    "SunSpecRef",
    "Table",
    "UnknownProfileError",
    "WordOrder",
    "apply_parameters",
    "load_profile",
    "parse_profile_file",
]
