"""Aggregation of redundant sensor readings into one value per role (pure: no I/O, no clock).

Several edge sensors can measure the same quantity for a site (three room temperature probes, two
grid meters).  ``aggregate`` turns their readings into one value:

1. a reading drops out when its sensor is unavailable (``offline``), has no value (``no_value``),
   is not a finite number (``invalid``), is older than its expiry (``stale``), or — for
   ``weighted_avg`` only — has a weight that is not a positive finite number (``bad_weight``);
2. with at least ``min_outlier_count`` (3) remaining readings, outliers are rejected by their
   modified z-score ``0.6745 * |x - median| / MAD`` (Iglewicz & Hoaglin): above ``outlier_z``
   (3.5) a reading is dropped (``outlier``).  When MAD is 0 (most readings agree exactly) every
   reading that differs from the median by more than ``min_deviation`` is an outlier.  A reading
   within ``min_deviation`` of the median is never an outlier (set it to the sensors' accuracy);
3. the rest are combined with ``avg`` / ``max`` / ``min`` / ``weighted_avg`` / ``sum``.

The result lists every dropped sensor with its reason, so a caller can raise an alarm when a
redundant sensor dies or disagrees while the value itself stays unchanged.  ``avg``, ``max``,
``min`` and ``weighted_avg`` always lie within the used readings' range and are never NaN;
``sum`` does no outlier rejection unless asked (its inputs legitimately differ).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

Method = Literal["avg", "max", "min", "weighted_avg", "sum"]
METHODS: tuple[str, ...] = get_args(Method)

DropReason = Literal["offline", "no_value", "invalid", "stale", "bad_weight", "outlier"]

OUTLIER_Z = 3.5
MIN_OUTLIER_COUNT = 3
_MAD_SCALE = 0.6745  # Φ⁻¹(0.75): makes MAD a consistent estimator of σ for normal data


class Reading(NamedTuple):
    """One sensor's latest reading as the aggregation sees it."""

    sensor_id: str
    value: float | None
    age_s: float | None = None  # seconds since it was measured; None: unknown (never stale)
    expire_after_s: float | None = None  # None: never expires
    weight: float = 1.0
    available: bool = True


@dataclass(frozen=True, slots=True)
class AggregateResult:
    value: float | None  # None when no reading survived
    used: int
    dropped: tuple[tuple[str, str], ...]  # (sensor_id, reason): screened ones first, then outliers
    method: str
    used_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.value is not None


def _finite(x: object) -> bool:
    kind = type(x)
    if kind is float or kind is int:  # the hot path: no isinstance chain
        return math.isfinite(x)  # type: ignore[arg-type]
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _screen(reading: Reading, method: str) -> str | None:
    """The reason a reading cannot be used before outlier rejection, or None."""
    if not reading.available:
        return "offline"
    if reading.value is None:
        return "no_value"
    if not _finite(reading.value):
        return "invalid"
    expiry, age = reading.expire_after_s, reading.age_s
    if expiry is not None and age is not None and (not _finite(age) or age > expiry):
        return "stale"
    if method == "weighted_avg" and not (_finite(reading.weight) and reading.weight > 0):
        return "bad_weight"
    return None


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def outliers(values: list[float], *, z: float = OUTLIER_Z, min_deviation: float = 0.0) -> list[bool]:
    """Which values are outliers by modified z-score (median / MAD); all False below 3 values."""
    if len(values) < MIN_OUTLIER_COUNT:
        return [False] * len(values)
    med = median(values)
    deviations = [abs(v - med) for v in values]
    mad = median(deviations)
    flags = []
    for dev in deviations:
        if dev <= min_deviation or dev == 0:
            flags.append(False)
        elif mad == 0:
            flags.append(True)
        else:
            flags.append(_MAD_SCALE * dev / mad > z)
    return flags


def _combine(values: list[float], weights: list[float], method: str) -> float:
    if method == "sum":
        try:
            return math.fsum(values)
        except OverflowError:  # finite inputs beyond ±1.8e308 in total
            return sum(values)
    if method == "max":
        return max(values)
    if method == "min":
        return min(values)
    if method == "weighted_avg":
        top = max(weights)
        scaled = [w / top for w in weights]  # in (0, 1]: no overflow whatever the weights
        total = math.fsum(scaled)
        result = math.fsum(v * (w / total) for v, w in zip(values, scaled, strict=True))
    else:
        result = math.fsum(v / len(values) for v in values)
    # rounding can leave a mean a hair outside its inputs; it is by definition within them
    return min(max(result, min(values)), max(values))


def aggregate(
    readings: Iterable[Reading],
    method: str = "avg",
    *,
    reject_outliers: bool | None = None,
    outlier_z: float = OUTLIER_Z,
    min_deviation: float = 0.0,
) -> AggregateResult:
    """Combine readings into one value; see the module docstring for the rules.

    ``reject_outliers`` defaults to True for every method but ``sum``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; expected one of {', '.join(METHODS)}")
    if reject_outliers is None:
        reject_outliers = method != "sum"
    dropped: list[tuple[str, str]] = []
    usable: list[Reading] = []
    for reading in readings:
        reason = _screen(reading, method)
        if reason is None:
            usable.append(reading)
        else:
            dropped.append((reading.sensor_id, reason))
    if reject_outliers and usable:
        values = [float(r.value) for r in usable if r.value is not None]
        flags = outliers(values, z=outlier_z, min_deviation=min_deviation)
        dropped.extend((r.sensor_id, "outlier") for r, bad in zip(usable, flags, strict=True) if bad)
        usable = [r for r, bad in zip(usable, flags, strict=True) if not bad]
    if not usable:
        return AggregateResult(None, 0, tuple(dropped), method)
    values = [float(r.value) for r in usable if r.value is not None]
    weights = [float(r.weight) for r in usable]
    return AggregateResult(
        value=_combine(values, weights, method),
        used=len(usable),
        dropped=tuple(dropped),
        method=method,
        used_ids=tuple(r.sensor_id for r in usable),
    )
