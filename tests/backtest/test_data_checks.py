"""What ``phoenyra-ems backtest`` refuses to replay, and the local days and tariff it reports (in process)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phoenyra_ems.backtest.data import BacktestDataError, from_csv, from_history, household_2024
from phoenyra_ems.config import load_config_text
from phoenyra_ems.history.store import HistoryRecord, HistoryStore, database_path
from tests.backtest.test_backtest_cli import main, table_rows

HEADER = "timestamp_utc,load_kw,pv_kw,price_eur_per_mwh\n"
START = datetime(2024, 6, 3, tzinfo=UTC)
FAR = "Asia/Kolkata"  # +05:30: local midnights fall on half hours of the UTC data
CONFIG = """
sites:
  default_site_id: home
  sites:
    home:
      name: Home
      location: {{city: Delhi, latitude: 28.6, longitude: 77.2, timezone: {zone}}}
      bess: {{energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}}
      modbus: {{host: 127.0.0.1, port: 1502}}
      forecast: {{pv_peak_power_kw: 10}}
      grid_tariffs: {{energy_price_markup_eur_mwh: 120, feedin_pricing: fixed, feedin_tariff_eur_mwh: 40,
                      demand_charge_eur_kw_month: 3}}
      ems: {{history_dir: "{history}", strategies: [self_consumption]}}
"""


def write_csv(path: Path, hours: int = 72, skip: range = range(0), price: float | None = None) -> Path:
    """Hourly rows from 2024-06-03 00:00 UTC: load = hour of the series, a PV bell, a price ramp."""
    lines = [HEADER]
    for h in range(hours):
        if h in skip:
            continue
        when = (START + timedelta(hours=h)).isoformat().replace("+00:00", "Z")
        pv = max(0.0, 5 - abs(h % 24 - 8))
        lines.append(f"{when},{h},{pv},{price if price is not None else 50 + 10 * (h % 7)}\n")
    path.write_text("".join(lines))
    return path


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "site.csv")


@pytest.fixture
def far_config(tmp_path: Path) -> Path:
    file = tmp_path / "ems.yaml"
    file.write_text(CONFIG.format(zone=FAR, history=tmp_path))
    return file


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Runs the command, which must exit 1 without a table or a traceback; its message."""
    assert main(["backtest", "--no-progress", *argv]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "perfect foresight" not in captured.out
    return captured.err


@pytest.mark.parametrize(
    ("period", "option"),
    [
        (["--from", "2024-06-04", "--to", "2024-06-10"], "--to 2024-06-10 00:00+0200 is outside the data"),
        (["--from", "2024-05-30"], "--from 2024-05-30 00:00+0200 is outside the data"),
        (["--from", "2024-06-05", "--to", "2024-06-04"], "the period is empty: --from 2024-06-05"),
        (["--from", "2024-06-04", "--to", "2024-06-04"], "the period is empty"),
        (["--from", "soon"], "--from 'soon' is not a date or time"),
    ],
)
def test_a_period_outside_the_file_reversed_or_empty_is_refused_with_the_files_range(
    csv: Path, period: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["--data", str(csv), *period], capsys)
    assert option in err
    if "not a date" not in option:  # the household site's local time, the file's real range
        assert f"{csv} covers 2024-06-03 02:00+0200 → 2024-06-06 02:00+0200 (Europe/Vienna)" in err


def test_a_gap_longer_than_an_hour_is_refused_and_a_short_one_filled_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gappy = write_csv(tmp_path / "gappy.csv", skip=range(30, 32))  # 2 h missing
    err = refused(["--data", str(gappy)], capsys)
    assert "has no data for 2 h from 2024-06-04 08:00+0200" in err and "--max-gap" in err
    # A period before the gap is whole; so is the whole file when longer gaps are allowed.
    assert from_csv(gappy, end="2024-06-04", timezone="Europe/Vienna").notes == ()
    data = from_csv(gappy, max_gap_h=2)
    assert data.notes and "2 of 72 1 h steps were missing" in data.notes[0]
    # Filled: the last value, then linear interpolation (load is the hour number: 29, then 29 → 32).
    np.testing.assert_allclose(data.load_kw[29:33], [29, 29, 30.5, 32])
    short = write_csv(tmp_path / "short.csv", skip=range(30, 31))
    assert (
        main(
            [
                "backtest",
                "--data",
                str(short),
                "--from",
                "2024-06-04",
                "--to",
                "2024-06-05",
                "--no-progress",
                "--strategies",
                "self_consumption",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "data: " in out and "1 of 24 1 h steps were missing" in out
    no_battery = table_rows(out)["no"]  # the table follows, one row per run
    assert no_battery[0] == "battery" and float(no_battery[1]) > 0 and no_battery[2] == "0.00"


def test_day_boundaries_are_the_sites_local_midnights_far_from_utc(
    csv: Path, far_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = from_csv(csv, "1h", "2024-06-04", "2024-06-05", timezone=FAR)
    assert day.index[0] == pd.Timestamp("2024-06-03T18:30Z") and len(day) == 24
    # A mean kW stays a mean kW: the step 18:30-19:30 UTC is half of hour 18, half of hour 19.
    assert day.load_kw[0] == pytest.approx(18.5)
    quarter = from_csv(csv, "15min", "2024-06-04", "2024-06-05", timezone=FAR)
    assert len(quarter) == 96 and quarter.load_kw[:3].tolist() == [18, 18, 19]
    with pytest.raises(BacktestDataError, match=r"--to 2024-06-07 00:00\+0530 is outside"):
        from_csv(csv, "1h", "2024-06-04", "2024-06-07", timezone=FAR)
    # The shipped year: the whole local days it covers in the site's zone.
    year = household_2024("1h", timezone="America/New_York")
    assert year.index[0] == pd.Timestamp("2024-01-01T05:00Z") and len(year) == 365 * 24
    # Through the CLI, with the site's tariff printed.
    assert (
        main(
            [
                "backtest",
                "-c",
                str(far_config),
                "--data",
                str(csv),
                "--from",
                "2024-06-04",
                "--to",
                "2024-06-05",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"1 days from 2024-06-04 00:00 to 2024-06-05 00:00 ({FAR})" in out
    tariff = next(line for line in out.splitlines() if line.startswith("tariff: "))
    assert "buy = day-ahead +120.00 EUR/MWh (mean " in tariff
    assert "feed-in = 40.00 EUR/MWh (fixed)" in tariff and "demand charge 3.00 EUR/kW" in tariff
    assert float(table_rows(out)["perfect"][-2]) == 100.0  # still one row per run, % of bound


async def record(path: Path, hours: int, skip: range) -> None:
    store = HistoryStore(path, retention=timedelta(days=36500), batch_size=10_000)
    await store.open()
    for k in range(hours * 4):
        if k // 4 in skip:
            continue
        when = START + timedelta(minutes=15 * k)
        await store.append(
            HistoryRecord(
                when.timestamp(), 50, 100, 25, 0, 0.0, 1.0 + k // 4, 1.0, 80.0, 0, None, "auto", "ok"
            )
        )
    await store.close()


def test_the_recorded_history_is_checked_the_same_way(tmp_path: Path, far_config: Path) -> None:
    site = load_config_text(far_config.read_text()).sites["home"]
    asyncio.run(record(database_path(tmp_path, "home"), 50, skip=range(30, 32)))
    with pytest.raises(BacktestDataError, match="has no data for 2 h from 2024-06-04 11:30\\+0530"):
        from_history(site, "1h")
    day = from_history(site, "1h", "2024-06-03T06:00", "2024-06-04T06:00")  # before the gap
    assert day.index[0] == pd.Timestamp("2024-06-03T00:30Z") and day.load_kw[0] == pytest.approx(1.5)
    with pytest.raises(BacktestDataError, match=r"--from 2024-06-02 00:00\+0530 is outside the data"):
        from_history(site, "1h", "2024-06-02", "2024-06-04")


def test_the_bound_never_charges_and_discharges_at_once_at_negative_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paid to buy all day: the LP would burn energy by charging and discharging in one step."""
    negative = write_csv(tmp_path / "negative.csv", hours=24, price=-400.0)
    assert (
        main(
            [
                "backtest",
                "--data",
                str(negative),
                "--no-progress",
                "--strategies",
                "self_consumption",
                "--markup",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "charging and discharging at once" in line)
    found, left = (int(w) for w in line.replace(",", " ").split() if w.isdigit())
    assert found > 0 and left == 0, line
