"""Feed-in rules in local time, DST days, tariffs the bound cannot take, weather coordinates."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.replay import grid_costs, known_until, no_battery
from phoenyra_ems.backtest.runner import household_site, run_backtest
from phoenyra_ems.config import ConfigError, load_config_text
from phoenyra_ems.config.model import FeedinLimitationConfig, FeedinRule
from tests.backtest.test_backtest_cli import main

VIENNA = ZoneInfo("Europe/Vienna")


def test_no_battery_applies_time_of_day_feed_in_rules_in_local_time() -> None:
    """Exports forbidden 10:00-16:00 local: the bill without a battery curtails exactly those hours."""
    site = replace(
        household_site(),
        feedin_limitation=FeedinLimitationConfig(
            enabled=True, mode="dynamic", dynamic_rules=(FeedinRule(time(10), time(16), 0.0),)
        ),
    )
    data = household_2024("1h", "2024-06-03", "2024-06-10")
    hours = data.index.tz_convert("Europe/Vienna").hour
    caps = np.where((hours >= 10) & (hours < 16), 0.0, np.inf)
    expected = grid_costs(site, data, np.maximum(data.load_kw - data.pv_kw, -caps)).sum()
    assert no_battery(site, data).cost_eur == pytest.approx(expected)
    unlimited = grid_costs(site, data, data.load_kw - data.pv_kw).sum()
    assert abs(expected - unlimited) > 1.0  # the rule matters in a sunny June week
    report = run_backtest(site, data, ("self_consumption",))
    assert report.optimum_cost_eur <= min(r.cost_eur for r in report.runs) + 1e-6
    assert report.optimum_cost_eur <= report.baseline.cost_eur + 1e-6


@pytest.mark.parametrize(
    ("local_now", "until_local"),
    [
        (datetime(2024, 3, 30, 14, tzinfo=VIENNA), datetime(2024, 4, 1, 0, tzinfo=VIENNA)),  # spring forward
        (datetime(2024, 10, 26, 14, tzinfo=VIENNA), datetime(2024, 10, 28, 0, tzinfo=VIENNA)),  # fall back
        (datetime(2024, 10, 27, 9, tzinfo=VIENNA), datetime(2024, 10, 28, 0, tzinfo=VIENNA)),
    ],
)
def test_published_prices_end_at_local_midnight_also_on_dst_days(
    local_now: datetime, until_local: datetime
) -> None:
    assert known_until(local_now) == pd.Timestamp(until_local).tz_convert("UTC")


def test_a_fixed_feed_in_above_the_purchase_price_is_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "home.yaml"
    config.write_text(
        "name: Home\n"
        "bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}\n"
        "forecast: {pv_peak_power_kw: 10}\n"
        "grid_tariffs: {energy_price_markup_eur_mwh: 150, feedin_tariff_eur_mwh: 80}\n"
    )
    argv = ["backtest", "-c", str(config), "--from", "2024-05-01", "--to", "2024-05-08", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "2024-05-01 12:00" in err and "feedin_pricing" in err and "Traceback" not in err


def test_weather_needs_coordinates_from_the_forecast_or_the_location() -> None:
    base = "name: Home\nbess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}\n"
    weather = "forecast: {enabled: true, weather_source: open-meteo}\n"
    config = load_config_text(base + "location: {latitude: 47.07, longitude: 15.44}\n" + weather)
    assert next(iter(config.sites.values())).forecast.weather_source == "open-meteo"
    with pytest.raises(ConfigError) as err:
        load_config_text(base + weather)
    assert "forecast.weather_source" in str(err.value) and "location.latitude" in str(err.value)
