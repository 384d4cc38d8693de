"""The console's headless core: no Textual, keymap, coalescing, control form, store, settings."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import deque
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest

from phoenyra_ems.client import (
    Alarm,
    AlarmSeverity,
    Control,
    ControlAck,
    Limits,
    Mode,
    PhoenyraInvalidRequestError,
    Role,
    Sensor,
    SiteDetail,
)
from tests.tui.conftest import NOW, chart_points, fixed_store, make_site, make_state
from tui.core import format as fmt
from tui.core.backoff import Backoff
from tui.core.coalesce import RenderThrottle
from tui.core.control import (
    ControlFormError,
    PowerBounds,
    build_request,
    describe_ack,
    describe_error,
    describe_request,
    parse_duration,
    power_bounds,
)
from tui.core.history import day_window, last_hour_series, site_zone, summarise
from tui.core.keymap import DEFAULT_KEYS, Keymap, KeymapError, load_keymap
from tui.core.settings import SettingsError, resolve_settings
from tui.core.store import CHART_WINDOW, ChartPoint, ConsoleStore, sensor_row

CORE_MODULES = [
    "tui.core",
    "tui.core.actions",
    "tui.core.backend",
    "tui.core.backoff",
    "tui.core.coalesce",
    "tui.core.connection",
    "tui.core.control",
    "tui.core.format",
    "tui.core.history",
    "tui.core.plan",
    "tui.core.keymap",
    "tui.core.settings",
    "tui.core.store",
    "tui.core.selector",
    "tui.core.community",
    "tui.core.vpp",
]


def test_the_core_never_imports_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE_MODULES!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext', 'rich'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_every_core_module_is_listed() -> None:
    found = {f"tui.core.{p.stem}" for p in (Path(__file__).parents[2] / "tui" / "core").glob("*.py")}
    assert found - {"tui.core.__init__"} | {"tui.core"} == set(CORE_MODULES)


# --- keymap -------------------------------------------------------------------------------------
def test_default_keymap_covers_every_action_once() -> None:
    keymap = Keymap()
    assert {spec.id for spec in keymap.actions} == set(DEFAULT_KEYS)
    assert keymap.keys_for("help") == ["f1", "question_mark"]
    assert keymap.display("help") == "F1 / ?"
    assert [keymap.keys_for(f"site_{n}") for n in (1, 9)] == [["1"], ["9"]]


def test_keymap_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "keys.toml"
    toml.write_text('[keys]\nshow_fleet = "o"\nhelp = ["f2", "h"]\n')
    keymap = load_keymap(toml)
    assert keymap.keys["show_fleet"] == "o" and keymap.keys["help"] == "f2,h"
    assert keymap.keys["quit"] == "q"  # untouched defaults stay
    js = tmp_path / "keys.json"
    js.write_text(json.dumps({"toggle_theme": "ctrl+t"}))
    assert load_keymap(js).keys["toggle_theme"] == "ctrl+t"


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ('[keys]\nfly = "x"\n', ".toml", "unknown action 'fly'"),
        ("[keys]\nhelp = 3\n", ".toml", "help: expected a key"),
        ("[keys\n", ".toml", "not valid toml"),
        ("[1, 2]", ".json", "expected a table"),
    ],
)
def test_bad_keymap_files_name_the_problem(tmp_path: Path, text: str, suffix: str, message: str) -> None:
    path = tmp_path / f"keys{suffix}"
    path.write_text(text)
    with pytest.raises(KeymapError, match=message):
        load_keymap(path)


# --- coalescing ---------------------------------------------------------------------------------
def test_throttle_draws_the_latest_state_at_most_max_hz() -> None:
    throttle = RenderThrottle(max_hz=4)
    drawn = []
    version = 0
    for tick in range(100):  # 10 s at 10 Hz; the store changes 50 times a second
        now = tick * 0.1
        version += 5
        if throttle.due(version, now):
            throttle.mark(version, now)
            drawn.append(now)
    assert 30 <= len(drawn) <= 41  # ~4 Hz
    assert all(b - a >= 0.25 - 1e-9 for a, b in itertools.pairwise(drawn))
    assert throttle.rendered_version == version  # the latest state wins
    last = throttle.last_render
    assert not throttle.due(version, last + 0.5)  # nothing changed: no draw …
    assert throttle.due(version, last + 1.0)  # … but once a second all the same (ages move)
    throttle.mark(version, last + 1.0)
    throttle.invalidate()
    assert throttle.due(version, last + 1.01)


def test_backoff_grows_to_its_cap() -> None:
    backoff = Backoff(0.5, 2.0, 10.0)
    assert [backoff.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


# --- control form -------------------------------------------------------------------------------
def test_power_bounds_take_the_operator_limits() -> None:
    site = make_site("wien", "Wien", 5020)
    state = make_state("wien", 50, 0, 0, 10)
    control = Control(Mode.AUTO, None, None, None)
    detail = SiteDetail(site, state, control, Limits(10, 90, None, 40, None, 100, 100, -40, 100, 10))
    assert power_bounds(detail) == PowerBounds(40, 100)
    assert power_bounds(SiteDetail(site, state, None, None)) == PowerBounds(100, 100)


@pytest.mark.parametrize(
    ("text", "seconds"), [("900", 900), ("900s", 900), ("15m", 900), ("15min", 900), ("1h30m", 5400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "25h", "soon", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_build_request_checks_every_field() -> None:
    bounds = PowerBounds(50, 80)
    strategies = ("arbitrage", "peak_shaving")
    request = build_request("wien", "manual", None, "-20,5", "10m", bounds, strategies)
    assert (request.mode, request.setpoint_kw, request.duration_s) == (Mode.MANUAL, -20.5, 600)
    assert "Setpoint: -20.5 kW (charge)" in describe_request(request, "Wien")
    auto = build_request("wien", "auto", "arbitrage", "ignored", "", bounds, strategies)
    assert (auto.setpoint_kw, auto.duration_s, auto.strategy) == (None, None, "arbitrage")
    with pytest.raises(ControlFormError) as err:
        build_request("wien", "manual", "nope", "-51", "2d", bounds, strategies)
    assert set(err.value.fields) == {"strategy", "setpoint_kw", "duration_s"}
    assert err.value.fields["setpoint_kw"] == "must be between -50 … 80 kW"


def test_a_rejection_shows_the_daemon_reasons() -> None:
    err = PhoenyraInvalidRequestError("invalid request", status=422, fields={"setpoint_kw": "must be …"})
    assert describe_error(err) == "rejected: setpoint_kw: must be …"


# --- store and texts ----------------------------------------------------------------------------
def test_store_numbers_sites_and_keeps_one_hour_of_points() -> None:
    store = fixed_store()
    assert store.site_by_number(2) == "linz" and store.site_by_number(3) is None
    assert store.can_control and store.is_admin
    points = store.series["wien"]
    assert points[-1].timestamp - points[0].timestamp <= CHART_WINDOW
    before = store.version
    store.set_state(make_state("wien", 55, 0, 0, 10, timestamp=NOW + timedelta(seconds=1)))
    assert store.version > before
    assert len(store.series["wien"]) == len(points)  # closer than 5 s: not a new chart point
    store.set_alarm("wien", Alarm("comm_lost", "no answer", AlarmSeverity.CRITICAL, NOW), True)
    assert [a.code for a in store.states["wien"].alarms] == ["comm_lost"]
    store.set_alarm("wien", Alarm("comm_lost", "no answer", AlarmSeverity.CRITICAL, NOW), False)
    assert store.states["wien"].alarms == ()
    assert store.events[-1].text.startswith("Wien: alarm comm_lost cleared")


def test_viewer_store_cannot_control() -> None:
    assert not fixed_store(Role.VIEWER).can_control


def test_power_flow_follows_the_sign_convention() -> None:
    state = make_state("wien", 50, p_bess=-20, p_pv=80, p_load=61)  # p_grid = +1 (import)
    lines = {line.label: line for line in fmt.flow_lines(state)}
    assert (lines["Battery"].arrow, lines["Battery"].note) == (fmt.OUT, "charging")
    assert (lines["Grid"].arrow, lines["Grid"].note) == (fmt.IN, "import")
    assert (lines["PV"].arrow, lines["Load"].arrow) == (fmt.IN, fmt.OUT)
    export = make_state("wien", 50, p_bess=30, p_pv=80, p_load=61)  # p_grid = -49 (export)
    lines = {line.label: line for line in fmt.flow_lines(export)}
    assert lines["Battery"].note == "discharging" and lines["Grid"].note == "export"
    assert lines["Grid"].kw == pytest.approx(49)


def test_soc_bar_marks_the_window() -> None:
    bar = fmt.soc_bar(50, 10, 90, 20)
    assert len(bar) == 20 and bar[18] == "|" and bar[2] == "▏"


def test_history_day_window_and_summary() -> None:
    zone = site_zone("Europe/Vienna")
    start, end = day_window(date(2024, 3, 31), zone)  # DST: a 23-hour day
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    points = [ChartPoint(NOW, -12.0, 0, 0, 12.0, 50), ChartPoint(NOW, 6.0, 0, 0, -6.0, 60)]
    summary = summarise(points, step_s=300)
    assert summary.charged_kwh == pytest.approx(1.0) and summary.discharged_kwh == pytest.approx(0.5)
    series = last_hour_series(deque(chart_points("wien", NOW, 3, timedelta(minutes=30))))
    assert series.x == [-60.0, -30.0, 0.0]


def test_sensor_rows_from_the_client_model() -> None:
    fresh = Sensor("esp:t1", "t1", 21.5, "°C", 2.34, True, "wien", "battery_room_temperature", "ha")
    assert sensor_row(fresh) == ("t1", "battery_room_temperature", "21.5", "°C", "ha", "2.3 s ago")
    waiting = Sensor("esp:t2", "", None, None, None, True, "wien", None, "phoenyra")
    assert sensor_row(waiting) == ("esp:t2", "-", "-", "-", "phoenyra", "no reading yet")


# --- settings -----------------------------------------------------------------------------------
def test_settings_precedence(tmp_path: Path) -> None:
    config = tmp_path / "ems.yaml"
    example = (Path(__file__).parents[2] / "examples" / "ems.yaml").read_text()
    config.write_text(example.replace("port: 8080", "port: 9123"))
    env = {"PHOENYRA_TOKEN": "phx_env"}
    s = resolve_settings(["--config", str(config)], env)
    assert (s.url, s.token, s.theme) == ("http://127.0.0.1:9123", "phx_env", "dark")
    s = resolve_settings(["--config", str(config)], {**env, "PHOENYRA_URL": "http://ems:1"})
    assert s.url == "http://ems:1"
    s = resolve_settings(["--url", "ems.local:8443", "--token", "t", "--theme", "light"], env)
    assert (s.url, s.token, s.theme) == ("http://ems.local:8443", "t", "light")
    with pytest.raises(SettingsError, match="no API token"):
        resolve_settings([], {})
    bad = tmp_path / "k.toml"
    bad.write_text('[keys]\nfly = "x"\n')
    with pytest.raises(SettingsError, match="--keymap"):
        resolve_settings(["--keymap", str(bad)], env)


def test_main_without_a_token_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.app import main

    monkeypatch.delenv("PHOENYRA_TOKEN", raising=False)
    assert main(["--url", "http://127.0.0.1:1"]) == 2
    assert "no API token" in capsys.readouterr().err


def test_store_without_data() -> None:
    store = ConsoleStore("http://x")
    assert store.site_name(None) == "-" and store.state_age_s("wien") is None and not store.can_control


def test_short_error_drops_the_request_and_aiohttp_detail() -> None:
    long = "GET /api/v1/info: Cannot connect to host 10.0.0.7:8080 ssl:default [Connect call failed ('x', 1)]"
    assert fmt.short_error(long) == "10.0.0.7:8080 unreachable"
    assert fmt.short_error("x" * 100, 20) == "x" * 19 + "…"
    assert fmt.short_error("token refused: invalid token") == "token refused: invalid token"


def test_no_negative_zero_in_power_texts_and_axis_labels() -> None:
    assert fmt.kw(-0.04) == "+0.0" and fmt.kw(-0.04, signed=False) == "0.0" and fmt.kw(-0.06) == "-0.1"
    for low, high in [(-0.3, 0.2), (-0.04, 0.0), (-39.6, 90.0), (0.0, 0.0), (-100.0, 100.0)]:
        lo, hi, ticks, labels = fmt.axis_ticks(low, high)
        assert lo <= low and hi >= high and 3 <= len(ticks) <= 7, (low, high, ticks)
        assert all(lo <= t <= hi for t in ticks)
        negative_zero = [label for label in labels if label.startswith("-") and not label.strip("-0.")]
        assert not negative_zero, labels


def test_the_ack_names_the_expiry_in_the_sites_time_zone() -> None:
    ack = ControlAck("wien", True, Control(Mode.MANUAL, None, -20.0, NOW + timedelta(minutes=15)))
    vienna = describe_ack(ack, fmt.site_zone("Europe/Vienna"))
    assert vienna.startswith("accepted: manual -20 kW until 12:45:00 CEST"), vienna
    assert "until 10:45:00 UTC" in describe_ack(ack)


def test_the_daemons_energy_counters_in_one_line() -> None:
    from phoenyra_ems.client import EnergyCounters

    line = fmt.energy_line(EnergyCounters(1234.56, 1100.0, 2.25, 880.04, NOW - timedelta(days=30)))
    assert line.startswith(f"Energy since {(NOW - timedelta(days=30)):%Y-%m-%d}: charged 1,234.6")
    assert "import 2.2" in line and "export 880.0 kWh" in line
    assert fmt.energy_line(None) == ""
