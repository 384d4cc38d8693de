"""core.sensor_aggregation: methods, staleness, outlier rejection (median/MAD), redundancy."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from phoenyra_ems.core.sensor_aggregation import METHODS, Reading, aggregate, outliers


def readings(*values: float | None, **kw: object) -> list[Reading]:
    return [Reading(f"s{i}", v, **kw) for i, v in enumerate(values)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "expected"),
    [("avg", 21.0), ("max", 22.0), ("min", 20.0), ("sum", 63.0), ("weighted_avg", 21.0)],
)
def test_methods(method: str, expected: float) -> None:
    result = aggregate(readings(20.0, 21.0, 22.0), method)
    assert result.value == pytest.approx(expected)
    assert result.used == 3 and result.dropped == () and result.method == method


def test_weighted_avg_uses_weights() -> None:
    result = aggregate([Reading("a", 10.0, weight=3.0), Reading("b", 20.0, weight=1.0)], "weighted_avg")
    assert result.value == pytest.approx(12.5)
    bad = aggregate([Reading("a", 10.0, weight=0.0), Reading("b", 20.0)], "weighted_avg")
    assert bad.value == 20.0 and bad.dropped == (("a", "bad_weight"),)


def test_unknown_method_is_an_error() -> None:
    with pytest.raises(ValueError, match="median"):
        aggregate(readings(1.0), "median")


def test_stale_offline_missing_and_invalid_readings_drop_out() -> None:
    result = aggregate(
        [
            Reading("fresh", 20.0, age_s=5, expire_after_s=60),
            Reading("stale", 99.0, age_s=61, expire_after_s=60),
            Reading("offline", 50.0, available=False),
            Reading("none", None),
            Reading("nan", math.nan),
            Reading("inf", math.inf),
            Reading("no_expiry", 22.0, age_s=1e6),
        ]
    )
    assert result.value == pytest.approx(21.0)
    assert result.used_ids == ("fresh", "no_expiry")
    assert dict(result.dropped) == {
        "stale": "stale",
        "offline": "offline",
        "none": "no_value",
        "nan": "invalid",
        "inf": "invalid",
    }


def test_nothing_left_is_none_not_nan() -> None:
    result = aggregate([Reading("a", None), Reading("b", 1.0, available=False)])
    assert result.value is None and result.used == 0 and not result.ok
    assert aggregate([]).value is None


def test_three_sensors_one_outlier_keeps_the_value_and_reports_it() -> None:
    good = aggregate(readings(20.0, 20.2))
    result = aggregate(readings(20.0, 20.2, 85.0))
    assert result.value == pytest.approx(good.value)
    assert result.dropped == (("s2", "outlier"),)
    dead = aggregate([*readings(20.0, 20.2), Reading("s2", 20.1, age_s=600, expire_after_s=120)])
    assert dead.value == pytest.approx(good.value) and dead.dropped == (("s2", "stale"),)


def test_outliers_need_three_values_and_respect_min_deviation() -> None:
    assert outliers([20.0, 85.0]) == [False, False]
    assert outliers([20.0, 20.0, 85.0]) == [False, False, True]  # MAD 0: any difference counts
    assert outliers([20.0, 20.0, 20.3], min_deviation=0.5) == [False, False, False]
    assert aggregate(readings(20.0, 20.0, 85.0), reject_outliers=False).value == pytest.approx(125 / 3)


def test_sum_does_not_reject_by_default() -> None:
    assert aggregate(readings(1.0, 1.0, 50.0), "sum").value == 52.0
    assert aggregate(readings(1.0, 1.0, 50.0), "sum", reject_outliers=True).value == 2.0


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
anything = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), finite)
reading = st.builds(
    Reading,
    sensor_id=st.text(min_size=1, max_size=4),
    value=anything,
    age_s=st.one_of(st.none(), st.floats(min_value=0, max_value=1e4)),
    expire_after_s=st.one_of(st.none(), st.floats(min_value=0, max_value=1e4)),
    weight=st.one_of(st.floats(min_value=-1, max_value=1e300), st.just(math.nan)),
    available=st.booleans(),
)


@given(st.lists(reading, max_size=12), st.sampled_from([m for m in METHODS if m != "sum"]), st.booleans())
def test_result_is_within_the_used_inputs_and_never_nan(
    items: list[Reading], method: str, reject: bool
) -> None:
    result = aggregate(items, method, reject_outliers=reject)
    used = [r for r in items if r.sensor_id in result.used_ids]
    assert result.used + len(result.dropped) == len(items)
    if result.value is None:
        assert result.used == 0
        return
    assert not math.isnan(result.value)
    values = [float(r.value) for r in used if r.value is not None]
    assert min(values) <= result.value <= max(values)


@given(st.lists(reading, max_size=12))
def test_sum_is_never_nan(items: list[Reading]) -> None:
    result = aggregate(items, "sum")
    assert result.value is None or not math.isnan(result.value)


@given(
    center=st.floats(min_value=-1e4, max_value=1e4),
    offsets=st.lists(st.floats(min_value=0, max_value=10), min_size=3, max_size=9),
    distance=st.floats(min_value=11, max_value=1e5),
    sign=st.sampled_from([-1.0, 1.0]),
    method=st.sampled_from(["avg", "max", "min", "weighted_avg"]),
)
def test_one_outlier_among_three_or_more_good_values_is_dropped(
    center: float, offsets: list[float], distance: float, sign: float, method: str
) -> None:
    good = [center + o for o in offsets]
    spread = max(good) - min(good)
    outlier = (max(good) if sign > 0 else min(good)) + sign * (10 * spread + distance)
    assume(math.isfinite(outlier))
    items = [Reading(f"g{i}", v) for i, v in enumerate(good)] + [Reading("bad", outlier)]
    result = aggregate(items, method)
    assert ("bad", "outlier") in result.dropped
    assert result.value is not None and min(good) <= result.value <= max(good)


# --- state payloads of the sensors listed in the configuration (issue 20) ----------------------


@pytest.mark.parametrize(
    ("payload", "path", "value"),
    [
        (b"21.5", None, 21.5),
        (b" 7 ", None, 7.0),
        (b"21.5", "x", None),  # a value path on a plain number: unreadable
        (b'{"sensor": {"temp": 24}}', "sensor.temp", 24.0),
        (b'{"t": "19.5"}', "t", 19.5),
        (b'{"t": 1}', "u", None),
        (b'{"t": true}', "t", None),
        (b'{"t": NaN}', "t", None),
        (b"nan", None, None),
        (b"inf", None, None),
        (b"on", None, None),
        (b"[1]", None, None),
        (b"\xff", None, None),
        (b"1" * 5000, None, None),
    ],
)
def test_listed_sensor_payloads(payload: bytes, path: str | None, value: float | None) -> None:
    from phoenyra_ems.sensor_service import parse_value

    if value is None:
        with pytest.raises(ValueError):
            parse_value(payload, path)
    else:
        assert parse_value(payload, path) == value
