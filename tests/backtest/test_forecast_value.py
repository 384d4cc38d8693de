"""The money table's helpers: bills per day, and whether a gain is more than the days' noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def test_a_gain_within_the_noise_of_the_days_is_told_apart_from_a_steady_one() -> None:
    from phoenyra_ems.backtest.forecast_value import Worth, gain_interval

    def row(daily: list[float]) -> Worth:
        return Worth("x", 0.0, 0.0, 0.0, 0.0, 0.0, daily_cost_eur=np.array(daily))

    reference = row([10.0] * 30)
    steady = row([9.0] * 30)  # 1 EUR less every day
    assert gain_interval(reference, steady) == pytest.approx((30.0, 30.0))
    lucky = row([10.0 - 5.0 * (-1) ** d + (0.5 if d == 0 else 0.0) for d in range(30)])  # +0.5 in all
    low, high = gain_interval(reference, lucky)
    assert low < 0.0 < high


def test_the_daily_bills_of_a_run_sum_to_its_cost() -> None:
    from phoenyra_ems.backtest.data import household_2024
    from phoenyra_ems.backtest.forecast_value import daily_costs
    from phoenyra_ems.backtest.runner import household_site, replay_optimiser

    site = household_site()
    data = household_2024("1h", "2024-03-30", "2024-04-02")  # the spring clock change: a 23-h day
    run = replay_optimiser(site, data)
    daily = daily_costs(run, data, site.location.timezone)
    assert len(daily) == 3
    assert daily.sum() == pytest.approx(run.cost_eur)


def household_csv(path: Path, pv_forecast: str | None) -> Path:
    """Twenty days of the household data as a user's CSV, with a pv_forecast_kw column: "actual"
    (the PV that came), "gap" (the actual PV with three empty hours), None (no column)."""
    from phoenyra_ems.backtest.data import household_2024

    data = household_2024("1h", "2024-06-01", "2024-06-21")
    frame = pd.DataFrame(
        {
            "timestamp_utc": data.index.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "load_kw": data.load_kw,
            "pv_kw": data.pv_kw,
            "price_eur_per_mwh": data.price_eur_mwh,
        }
    )
    if pv_forecast is not None:
        frame["pv_forecast_kw"] = data.pv_kw
        if pv_forecast == "gap":
            frame.loc[200:202, "pv_forecast_kw"] = np.nan
    frame.to_csv(path, index=False)
    return path


def test_a_pv_forecast_the_user_has_is_judged_by_money_beside_the_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV's pv_forecast_kw gets its own row, 'given'; a forecast that is the PV that came earns
    what a perfect PV forecast earns. Without the column there is no such row."""
    from tests.backtest.test_backtest_cli import main, table_rows

    value = ["forecast-eval", "--value", "--no-progress", "--target", "pv"]
    assert main([*value, "--data", str(household_csv(tmp_path / "own.csv", "actual"))]) == 0
    rows = table_rows(capsys.readouterr().out)
    saved, pv_mae = 0, 3
    assert rows["given"][pv_mae] == "0.000"
    assert rows["given"][saved] == rows["perfect_pv"][saved]
    assert float(rows["given"][saved]) > float(rows["history"][1 + saved])
    assert main([*value, "--models", "given", "--data", str(household_csv(tmp_path / "no.csv", None))]) == 1
    assert "none of --models given" in capsys.readouterr().err


def test_a_gap_in_the_users_pv_forecast_is_refused_naming_the_column(tmp_path: Path) -> None:
    from phoenyra_ems.backtest.data import BacktestDataError, from_csv

    with pytest.raises(BacktestDataError, match=r"has no data for 3 h from .* in pv_forecast_kw"):
        from_csv(household_csv(tmp_path / "gap.csv", "gap"))
