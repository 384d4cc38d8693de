"""The backtest's row for a site with a forecast service is reachable and says what it planned with."""

from __future__ import annotations

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.report import table
from phoenyra_ems.backtest.runner import OPTIMISER_SERVICE, household_site, run_backtest


def test_the_forecast_service_row_is_in_the_table_with_its_models_line() -> None:
    site = household_site()
    data = household_2024("1h", "2024-05-01", "2024-05-04", site.location.timezone)
    report = run_backtest(site, data, ("self_consumption",), optimiser=False, forecast_service=True)
    assert [run.name for run in report.runs] == ["self_consumption", "selection", OPTIMISER_SERVICE]
    row = report.runs[-1]
    assert row.violations == 0 and row.plan_stats["replans"] == len(data)
    text = table(report)
    assert OPTIMISER_SERVICE in text and "prices beyond publication MAE" in text
    # three days: too little history for the models (two weeks), the baselines stand in, no fit yet
    assert f"{OPTIMISER_SERVICE}: load ensemble 0 fits" in text
