"""Replays of real data through the decision logic, the no-battery baseline and the data loaders.

Two June weeks of the shipped household (Konstanz load and PV on 2024's days, AT day-ahead prices)
keep every replay well under a second.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phoenyra_ems.backtest import replay as replay_module
from phoenyra_ems.backtest.data import BacktestData, BacktestDataError, from_csv, household_2024
from phoenyra_ems.backtest.replay import RunResult, no_battery, replay
from phoenyra_ems.backtest.runner import BacktestReport, household_site, run_backtest
from phoenyra_ems.config.model import FeedinLimitationConfig, SiteConfig

STRATEGIES = ("arbitrage", "peak_shaving", "self_consumption", "load_balancing")
HEADER = "timestamp_utc,load_kw,pv_kw,price_eur_per_mwh\n"


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return household_site()


@pytest.fixture(scope="module")
def june() -> BacktestData:
    return household_2024("1h", "2024-06-01", "2024-06-15")


@pytest.fixture(scope="module")
def report(site: SiteConfig, june: BacktestData) -> BacktestReport:
    return run_backtest(site, june)


def run(report: BacktestReport, name: str) -> RunResult:
    return next(r for r in report.runs if r.name == name)


def test_the_report_has_every_strategy_and_the_selection(report: BacktestReport) -> None:
    assert [r.name for r in report.runs] == [
        *STRATEGIES,
        "selection",
        "optimiser",
        "optimiser (perfect forecasts)",
    ]
    assert all(r.days == pytest.approx(14.0) for r in [report.baseline, *report.runs])


def test_no_replay_exceeds_a_hard_limit(report: BacktestReport) -> None:
    assert {r.name: r.violations for r in report.runs} == {r.name: 0 for r in report.runs}


@pytest.mark.parametrize("strategy", ["arbitrage", "self_consumption", "load_balancing", None])
def test_soc_stays_within_the_configured_window(
    site: SiteConfig, june: BacktestData, strategy: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    socs: list[float] = []
    real_step = replay_module.step

    def recording_step(*args: Any, **kwargs: Any) -> Any:
        state, delivered = real_step(*args, **kwargs)
        socs.append(state.soc_pct)
        return state, delivered

    monkeypatch.setattr(replay_module, "step", recording_step)
    result = replay(site, june, strategy, soc_start_pct=50.0)
    assert len(socs) == len(june)
    soc = np.array(socs)
    assert soc.min() >= site.bess.soc_min_pct - 1e-6, soc.min()
    assert soc.max() <= site.bess.soc_max_pct + 1e-6, soc.max()
    assert soc.max() - soc.min() > 30  # the battery really worked over the two weeks
    assert result.soc_end_pct == pytest.approx(soc[-1])
    assert result.throughput_kwh > 0


def test_self_consumption_saves_money_in_june(report: BacktestReport) -> None:
    saved = report.baseline.cost_eur - run(report, "self_consumption").cost_eur
    assert saved > 1.0  # EUR over two sunny weeks with 10 kWh


def test_the_perfect_foresight_bound_is_below_every_run(report: BacktestReport) -> None:
    assert report.optimum_cost_eur <= report.baseline.cost_eur + 1e-6
    for result in report.runs:
        assert report.optimum_cost_eur <= result.cost_eur + 1e-6, result.name


def test_share_of_bound_of_the_best_run_is_at_most_100_percent(report: BacktestReport) -> None:
    best = min(report.runs, key=lambda r: r.cost_eur)
    share = report.share_of_bound(best)
    assert 0 < share <= 100.0 + 1e-6, (best.name, share)
    assert report.share_of_bound(run(report, "peak_shaving")) == pytest.approx(0.0)  # no cap: idles


def test_the_bound_holds_on_a_single_day(site: SiteConfig) -> None:
    day = household_2024("1h", "2024-06-11", "2024-06-12")
    report = run_backtest(site, day, ("self_consumption",))
    for result in report.runs:
        assert report.optimum_cost_eur <= result.cost_eur + 1e-6, (result.name, result.soc_end_pct)
        assert report.share_of_bound(result) <= 100.0 + 1e-6


def test_share_of_bound_stays_meaningful_when_there_is_nothing_to_gain(tmp_path: Path) -> None:
    csv = tmp_path / "flat.csv"  # no PV, a flat price: a battery can only lose
    csv.write_text(HEADER + "".join(f"2024-06-03T{h:02d}:00:00Z,1,0,50\n" for h in range(3)))
    report = run_backtest(household_site(), from_csv(csv))
    assert report.bound_saving_eur == pytest.approx(0.0, abs=1e-9)
    for result in report.runs:
        share = report.share_of_bound(result)
        assert math.isnan(share), (result.name, share)  # nothing to share: no ratio of rounding noise


def test_a_feed_in_limit_curtails_the_replays_like_the_bill_without_battery(
    site: SiteConfig, june: BacktestData
) -> None:
    capped = replace(site, feedin_limitation=FeedinLimitationConfig(enabled=True, fixed_limit_pct=30.0))
    report = run_backtest(capped, june)  # 3 kW export cap on a 10 kWp roof in June
    uncapped_bill = no_battery(site, june).cost_eur
    assert report.baseline.cost_eur > uncapped_bill + 3.0  # curtailed PV earns nothing
    assert all(r.violations == 0 for r in report.runs)
    for result in report.runs:
        assert report.optimum_cost_eur <= result.cost_eur + 1e-6, result.name
    # Peak shaving has no import cap to defend: it only soaks up a little curtailed PV.
    idle = run(report, "peak_shaving")
    assert abs(idle.cost_eur - report.baseline.cost_eur) < 1.5, (idle.cost_eur, report.baseline.cost_eur)


def test_15_min_steps_give_the_same_no_battery_cost_as_hourly(site: SiteConfig, june: BacktestData) -> None:
    quarter = household_2024("15min", "2024-06-01", "2024-06-15")
    assert len(quarter) == 4 * len(june)
    assert quarter.step_h == 0.25 and june.step_h == 1.0
    hourly_cost, quarter_cost = no_battery(site, june).cost_eur, no_battery(site, quarter).cost_eur
    assert quarter_cost == pytest.approx(hourly_cost, rel=0.01)


def test_a_pinned_strategy_never_switches_and_the_selection_does(report: BacktestReport) -> None:
    arbitrage = run(report, "arbitrage")
    assert arbitrage.switches == 0 and arbitrage.strategy_share == {"arbitrage": 1.0}
    selection = run(report, "selection")
    assert selection.switches > 0
    assert len(selection.strategy_share) > 1
    assert sum(selection.strategy_share.values()) == pytest.approx(1.0)


def test_no_battery_cost_by_hand(tmp_path: Path) -> None:
    csv = tmp_path / "site.csv"
    csv.write_text(
        HEADER + "2024-06-03T00:00:00Z,1,0,100\n"  # import 1 kW at 100 + 150 markup: 0.25 EUR
        "2024-06-03T01:00:00Z,1,0,-20\n"  # import 1 kW at -20 + 150: 0.13 EUR
        "2024-06-03T02:00:00Z,1,3,100\n"  # export 2 kW at spot 100 (+0 feed-in): -0.20 EUR
        "2024-06-03T03:00:00Z,2,2,300\n"  # balanced: 0
    )
    data = from_csv(csv)
    result = no_battery(household_site(), data)
    assert result.cost_eur == pytest.approx(0.25 + 0.13 - 0.20)
    np.testing.assert_allclose(result.cumulative_cost_eur, [0.25, 0.38, 0.18, 0.18])


def test_from_csv_reads_hourly_data_onto_a_15_min_grid(tmp_path: Path) -> None:
    csv = tmp_path / "site.csv"
    csv.write_text(HEADER + "".join(f"2024-06-03T{h:02d}:00:00Z,{h},0.5,{10 * h}\n" for h in range(6)))
    data = from_csv(csv, "15min", start="2024-06-03T01:00", end="2024-06-03T03:00")
    assert len(data) == 8 and data.step_h == 0.25
    np.testing.assert_array_equal(data.load_kw, [1, 1, 1, 1, 2, 2, 2, 2])  # a mean kW stays a mean kW
    np.testing.assert_array_equal(data.price_eur_mwh, [10] * 4 + [20] * 4)
    assert "site.csv" in data.description


def test_from_csv_names_the_file_and_the_missing_column(tmp_path: Path) -> None:
    csv = tmp_path / "no_price.csv"
    csv.write_text("timestamp_utc,load_kw,pv_kw\n2024-06-03T00:00:00Z,1,0\n2024-06-03T01:00:00Z,1,0\n")
    with pytest.raises(BacktestDataError, match="price_eur_per_mwh") as err:
        from_csv(csv)
    assert str(csv) in str(err.value)


def test_from_csv_names_the_file_without_timestamps(tmp_path: Path) -> None:
    csv = tmp_path / "no_time.csv"
    csv.write_text("time,load_kw,pv_kw,price_eur_per_mwh\n2024-06-03T00:00:00Z,1,0,50\n")
    with pytest.raises(BacktestDataError, match="timestamp_utc") as err:
        from_csv(csv)
    assert str(csv) in str(err.value)


def test_from_csv_names_the_file_line_and_column_of_a_non_number(tmp_path: Path) -> None:
    csv = tmp_path / "typo.csv"
    csv.write_text(
        HEADER + "2024-06-03T00:00:00Z,1,0,50\n"
        "2024-06-03T01:00:00Z,1,0,50\n"
        "2024-06-03T02:00:00Z,1,zero,50\n"  # line 4 of the file
        "2024-06-03T03:00:00Z,1,0,50\n"
    )
    with pytest.raises(BacktestDataError, match="pv_kw") as err:
        from_csv(csv)
    assert f"{csv}:4:" in str(err.value)


def test_from_csv_names_the_file_of_a_bad_timestamp(tmp_path: Path) -> None:
    csv = tmp_path / "bad_time.csv"
    csv.write_text(HEADER + "2024-06-03T00:00:00Z,1,0,50\nyesterday,1,0,50\n2024-06-03T02:00:00Z,1,0,50\n")
    with pytest.raises(BacktestDataError) as err:
        from_csv(csv)
    assert str(csv) in str(err.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("5min", "2024-06-01", "2024-06-02"), "step"),
        (("1h", "2024-06-02", "2024-06-01"), "empty"),
        (("1h", "2023-12-01", "2024-01-02"), "outside"),
    ],
)
def test_household_2024_rejects_bad_periods(args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(BacktestDataError, match=message):
        household_2024(*args)


def test_optimiser_with_perfect_forecasts_reaches_the_bound(report: BacktestReport) -> None:
    """The sanity check of planner and execution: >= 99 % of what a controller that cannot curtail
    PV for price could earn (the bound may curtail; the replays cannot)."""
    perfect = run(report, "optimiser (perfect forecasts)")
    comparable = report.no_curtailment_cost_eur or report.optimum_cost_eur
    share = (report.baseline.cost_eur - perfect.cost_eur) / (report.baseline.cost_eur - comparable)
    assert share >= 0.99
    assert perfect.violations == 0 and perfect.plan_stats["failed"] == 0


def test_optimiser_plans_from_history_beat_self_consumption(report: BacktestReport) -> None:
    optimiser, alone = run(report, "optimiser"), run(report, "self_consumption")
    assert optimiser.cost_eur < alone.cost_eur
    assert optimiser.plan_stats["replans"] == len(report.data)  # hourly steps, 15-min planning
    assert optimiser.reversals_per_day < 5
