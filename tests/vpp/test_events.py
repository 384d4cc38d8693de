"""Events -> schedules, reports and flexibility announcements (pure), and the vendored document."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenyra_ems.core.vpp import Flexibility
from phoenyra_ems.vpp.events import EventError, merge, parse_duration, to_schedule
from phoenyra_ems.vpp.flexibility import material
from phoenyra_ems.vpp.openapi import SPEC_PATH
from phoenyra_ems.vpp.reports import AGGREGATED, Sample, build_report

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _event(intervals: list[dict], **extra: object) -> dict:
    return {
        "id": "e1",
        "programID": "p1",
        "intervalPeriod": {"start": "2026-12-01T10:00:00Z", "duration": "PT15M"},
        "intervals": intervals,
        **extra,
    }


def test_intervals_follow_each_other_units_and_payloads() -> None:
    event = _event(
        [
            {"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [50000]}]},
            {
                "id": 1,
                "payloads": [
                    {"type": "IMPORT_CAPACITY_LIMIT", "values": [30000]},
                    {"type": "PRICE", "values": [120.0]},
                ],
            },
            {
                "id": 2,
                "intervalPeriod": {"start": "2026-12-01T11:00:00Z", "duration": "PT0S"},
                "payloads": [{"type": "EXPORT_CAPACITY_LIMIT", "values": [0]}],
            },
            {"id": 3, "payloads": [{"type": "SIMPLE", "values": [1]}]},  # not ours: dropped
        ],
        payloadDescriptors=[
            {"payloadType": "DISPATCH_SETPOINT", "units": "W"},
            {"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "W"},
            {"payloadType": "PRICE", "units": "MWH", "currency": "EUR"},
        ],
    )
    schedule = to_schedule(event, "wien")
    first, second, third = schedule.intervals
    assert (first.start, first.end, first.setpoint_kw) == (T0, T0 + timedelta(minutes=15), 50.0)
    assert (second.start, second.import_limit_kw, second.price_eur_kwh) == (first.end, 30.0, 0.12)
    assert third.export_limit_kw == 0.0 and third.end - third.start == timedelta(hours=24)  # PT0S open
    assert schedule.active(T0 + timedelta(minutes=20)) is second and schedule.resource == "wien"


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"type": "EXPORT_CAPACITY_LIMIT", "values": [-5]}, "must be >= 0"),
        ({"type": "DISPATCH_SETPOINT", "values": ["high"]}, "needs one number"),
        ({"type": "DISPATCH_SETPOINT", "values": []}, "needs one number"),
    ],
)
def test_bad_payloads_are_named(payload: dict, needle: str) -> None:
    with pytest.raises(EventError, match=needle):
        to_schedule(_event([{"id": 0, "payloads": [payload]}]), "wien")


def test_overlap_and_unknown_unit_rejected() -> None:
    own = {"start": "2026-12-01T10:05:00Z", "duration": "PT15M"}
    overlapping = _event(
        [
            {"id": 0, "payloads": [{"type": "PRICE", "values": [1]}]},
            {"id": 1, "intervalPeriod": own, "payloads": [{"type": "PRICE", "values": [1]}]},
        ]
    )
    with pytest.raises(EventError, match="overlap"):
        to_schedule(overlapping, "wien")
    with pytest.raises(EventError, match="unknown power unit"):
        to_schedule(_event([], payloadDescriptors=[{"payloadType": "DISPATCH_SETPOINT", "units": "HP"}]), "x")
    assert parse_duration("P1D") == timedelta(days=1) and parse_duration("PT0.5S") == timedelta(seconds=0.5)


def test_merge_prefers_the_running_then_the_newest_event() -> None:
    def one(eid: str, start: datetime) -> object:
        event = {**_event([{"id": 0, "payloads": [{"type": "PRICE", "values": [1]}]}]), "id": eid}
        event["intervalPeriod"] = {"start": start.isoformat(), "duration": "PT15M"}
        return to_schedule(event, "wien")

    old, later, newer = one("a", T0), one("b", T0 + timedelta(minutes=30)), one("c", T0)
    assert merge([old, later], T0 + timedelta(minutes=1)).event_id == "a"
    assert merge([old, newer], T0).event_id == "c"
    assert merge([old], T0 + timedelta(hours=1)) is None


def test_aggregated_report_sums_powers_and_averages_soc() -> None:
    event = _event(
        [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [10]}]}],
        reportDescriptors=[
            {"payloadType": "DEMAND", "aggregate": True},
            {"payloadType": "STORAGE_CHARGE_LEVEL"},
            {"payloadType": "USAGE"},
        ],
    )
    schedules = {r: to_schedule(event, r) for r in ("wien", "linz")}
    samples = {"wien": {0: Sample(4.0, 40.0, 10, 5, 5)}, "linz": {0: Sample(6.0, 60.0, 10, 5, 5)}}
    report = build_report(event, "ven", schedules, samples)
    assert report is not None
    (resource,) = report["resources"]
    assert resource["resourceName"] == AGGREGATED
    payloads = {p["type"]: p["values"][0] for p in resource["intervals"][0]["payloads"]}
    assert payloads == {"DEMAND": -10.0, "STORAGE_CHARGE_LEVEL": 50.0}  # USAGE: not ours, left out
    assert build_report({**event, "reportDescriptors": None}, "ven", schedules, samples) is None


def test_material_change() -> None:
    base = Flexibility("wien", 40.0, 40.0, 900.0, 30.0, 20.0)
    assert material(None, base)
    assert not material(base, Flexibility("wien", 40.9, 40.0, 900.0, 30.0, 20.0))
    assert material(base, Flexibility("wien", 37.0, 40.0, 900.0, 30.0, 20.0))
    assert material(base, Flexibility("wien", 40.0, 40.0, 900.0, 25.0, 20.0))


def test_vendored_document_is_a_valid_openapi_document() -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    spec, _ = read_from_filename(str(SPEC_PATH))
    validate(spec)
    assert spec["info"]["version"] == "3.0.1"
    assert (SPEC_PATH.parent / "LICENSE").exists() and (SPEC_PATH.parent / "NOTICE").exists()


def test_targets_by_resource_and_ven_name() -> None:
    from phoenyra_ems.vpp.events import addressed

    ours = ["wien", "linz"]
    assert addressed({"targets": None}, ours, "ems") == ours
    assert addressed({"targets": [{"type": "RESOURCE_NAME", "values": ["linz"]}]}, ours, "ems") == ["linz"]
    assert addressed({"targets": [{"type": "VEN_NAME", "values": ["other"]}]}, ours, "ems") == []
    assert addressed({"targets": [{"type": "VEN_NAME", "values": ["ems"]}]}, ours, "ems") == ours


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 120),
    st.lists(st.floats(-500, 500, allow_nan=False), min_size=1, max_size=12),
    st.sampled_from([("W", 0.001), ("KW", 1.0), ("MW", 1000.0)]),
)
def test_any_sequential_event_becomes_a_contiguous_schedule(
    minutes: int, setpoints: list[float], unit: tuple[str, float]
) -> None:
    """Intervals without their own period follow each other from the event's start, each as long
    as the event's duration: no gap, no overlap, every setpoint scaled by the event's unit."""
    intervals = [
        {"id": i, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [kw]}]}
        for i, kw in enumerate(setpoints)
    ]
    event = _event(intervals, payloadDescriptors=[{"payloadType": "DISPATCH_SETPOINT", "units": unit[0]}])
    event["intervalPeriod"]["duration"] = f"PT{minutes}M"
    schedule = to_schedule(event, "wien")
    assert len(schedule.intervals) == len(setpoints) and schedule.intervals[0].start == T0
    for before, after in itertools.pairwise(schedule.intervals):
        assert before.end == after.start
    assert schedule.end == T0 + timedelta(minutes=minutes * len(setpoints))
    for got, kw in zip(schedule.intervals, setpoints, strict=True):
        assert got.setpoint_kw == pytest.approx(kw * unit[1])
