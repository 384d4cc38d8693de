"""One backtest: no battery, each strategy alone, the score-based selection, the perfect-foresight bound."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from phoenyra_ems.backtest.ai_selection import AI_SELECTION, run_ai_selection
from phoenyra_ems.backtest.ai_settings import WalkForwardResult, WalkForwardSettings
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import BacktestForecasts, service_forecasts
from phoenyra_ems.backtest.optimum import OptimumInput, OptimumResult, solve_optimum
from phoenyra_ems.backtest.replay import (
    RunResult,
    export_caps,
    no_battery,
    replay,
    storage_value_eur_kwh,
    tariff_prices,
)
from phoenyra_ems.config.model import (
    BessConfig,
    EmsSettings,
    ForecastConfig,
    GridTariffConfig,
    Location,
    SiteConfig,
)

SOC_START_PCT = 50.0


def household_site(
    capacity_kwh: float = 10.0,
    power_kw: float = 5.0,
    pv_peak_kw: float = 10.0,
    markup_eur_mwh: float = 150.0,
    feedin_eur_mwh: float = 0.0,
) -> SiteConfig:
    """The issue's household: a 10 kWh / 5 kW battery, PV, a dynamic tariff with spot feed-in."""
    return SiteConfig(
        site_id="household",
        name="Household (Konstanz data, AT prices)",
        bess=BessConfig(
            energy_capacity_kwh=capacity_kwh,
            power_charge_max_kw=power_kw,
            power_discharge_max_kw=power_kw,
            soc_min_pct=10.0,
            soc_max_pct=90.0,
        ),
        location=Location(city="Konstanz", latitude=47.66, longitude=9.18, timezone="Europe/Vienna"),
        forecast=ForecastConfig(pv_peak_power_kw=pv_peak_kw),
        grid_tariffs=GridTariffConfig(
            energy_price_markup_eur_mwh=markup_eur_mwh,
            feedin_tariff_eur_mwh=feedin_eur_mwh,
            feedin_pricing="spot",
        ),
        ems=EmsSettings(cycle_s=3600.0),
    )


@dataclass
class BacktestReport:
    site: SiteConfig
    data: BacktestData
    baseline: RunResult
    runs: list[RunResult]
    optimum: OptimumResult
    optimum_cost_eur: float
    # The bound if PV could not be curtailed for price (as in the replays); None with an export cap.
    no_curtailment_cost_eur: float | None = None
    ai_selection: WalkForwardResult | None = None  # the walk-forward AI row's regret and trainings
    notes: tuple[str, ...] = ()  # e.g. the forecast service's fits and errors

    @property
    def bound_saving_eur(self) -> float:
        return self.baseline.cost_eur - self.optimum_cost_eur

    def share_of_bound(self, run: RunResult) -> float:
        """Savings of ``run`` in % of the perfect-foresight savings."""
        saving = self.baseline.cost_eur - run.cost_eur
        # Below a cent there is nothing to share: a ratio of rounding noise means nothing.
        return 100.0 * saving / self.bound_saving_eur if self.bound_saving_eur > 0.01 else float("nan")


def optimum_input(site: SiteConfig, data: BacktestData) -> OptimumInput:
    tariffs, bess = site.grid_tariffs, site.bess
    buy, sell = tariff_prices(site, data)
    local = data.index.tz_convert(site.location.timezone)
    caps = export_caps(site, data)
    return OptimumInput(
        step_h=data.step_h,
        load_kw=data.load_kw,
        pv_kw=data.pv_kw,
        buy_eur_mwh=buy,
        sell_eur_mwh=sell,
        capacity_kwh=bess.energy_capacity_kwh,
        charge_max_kw=bess.power_charge_max_kw,
        discharge_max_kw=bess.power_discharge_max_kw,
        efficiency_charge=bess.efficiency_charge,
        efficiency_discharge=bess.efficiency_discharge,
        soc_min_pct=bess.soc_min_pct,
        soc_max_pct=bess.soc_max_pct,
        soc_start_pct=SOC_START_PCT,
        import_max_kw=site.grid_connection.max_power_kw,
        export_max_kw=caps if np.isfinite(caps).any() else None,
        demand_charge_eur_kw_month=tariffs.demand_charge_eur_kw_month,
        month_of_step=np.asarray(local.year * 12 + local.month),
        soc_end_min_pct=bess.soc_min_pct,
        terminal_value_eur_kwh=storage_value_eur_kwh(site, data),
    )


def tariff_problem(site: SiteConfig, data: BacktestData) -> str | None:
    """Why the bound cannot be computed for this tariff (an export paying more than a purchase), or None."""
    bound = optimum_input(site, data)
    above = np.flatnonzero(bound.sell_eur_mwh > bound.buy_eur_mwh + 1e-9)
    if not len(above):
        return None
    k = int(above[0])
    when = data.index[k].tz_convert(site.location.timezone)
    return (
        f"at {when:%Y-%m-%d %H:%M} ({len(above)} steps in all) an export earns "
        f"{bound.sell_eur_mwh[k]:.2f} EUR/MWh "
        f"(grid_tariffs.feedin_pricing {site.grid_tariffs.feedin_pricing}) but a purchase costs only "
        f"{bound.buy_eur_mwh[k]:.2f} (day-ahead {data.price_eur_mwh[k]:.2f} + markup): the perfect-foresight "
        "bound would trade through the meter. Use feedin_pricing: spot, or a period without such hours."
    )


OPTIMISER = "optimiser"
OPTIMISER_PERFECT = "optimiser (perfect forecasts)"
OPTIMISER_SERVICE = "optimiser (forecast service)"


def replay_optimiser(
    site: SiteConfig,
    data: BacktestData,
    *,
    perfect: bool = False,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
    forecasts: BacktestForecasts | None = None,
) -> RunResult:
    """The optimiser pinned, planning from forecasts made before each plan (or the actual data)."""
    site = replace(site, ems=replace(site.ems, strategies=(OPTIMISER,), default_strategy=OPTIMISER))
    inputs = forecasts or BacktestForecasts(site, data, site.ems.planning_horizon_h, perfect=perfect)
    return replay(
        site,
        data,
        OPTIMISER,
        name=name or (OPTIMISER_PERFECT if perfect else OPTIMISER),
        soc_start_pct=SOC_START_PCT,
        progress=progress,
        plan_inputs=inputs,
    )


def forecast_line(inputs: BacktestForecasts) -> str:
    """What the forecast service's models cost and how far off they were (day ahead)."""
    load, pv = inputs.stats, inputs.pv_stats
    text = (
        f"load ensemble {load.fits} fits ({load.fit_s:.0f} s), MAE {load.mae_kw:.3f} kW"
        f"; PV model {pv.fits} fits, MAE {pv.mae_kw:.3f} kW"
    )
    return text + f"; prices beyond publication MAE {inputs.price_mae:.1f} EUR/MWh"


def run_backtest(
    site: SiteConfig,
    data: BacktestData,
    strategies: tuple[str, ...] | None = None,
    progress: Callable[[str, int], None] | None = None,
    optimiser: bool = True,
    ai_selection: WalkForwardSettings | None = None,
    forecast_service: bool = False,
) -> BacktestReport:
    """Every strategy alone, the selection over ``strategies`` (default: the site's), the optimiser
    with realistic and with perfect forecasts (``optimiser``), planning from the daemon's forecast
    service walked forward (``forecast_service``), the walk-forward AI selection (``ai_selection``,
    docs/ai-selection.md), then the bound."""
    names = tuple(n for n in (strategies or site.ems.strategies) if n != OPTIMISER)
    site = replace(
        site,
        ems=replace(
            site.ems,
            strategies=names,
            default_strategy=site.ems.default_strategy if site.ems.default_strategy in names else names[0],
        ),
    )
    baseline = no_battery(site, data)
    runs = []
    notes: list[str] = []

    def reporter(label: str) -> Callable[[int], None] | None:
        return None if progress is None else (lambda i: progress(label, i))

    for name in [*names, None]:
        label = name or "selection"
        runs.append(
            replay(
                site,
                data,
                name,
                name=label,
                soc_start_pct=SOC_START_PCT,
                progress=reporter(label),
            )
        )
    optimiser_runs = []
    if optimiser:
        for perfect in (False, True):
            label = OPTIMISER_PERFECT if perfect else OPTIMISER
            optimiser_runs.append(replay_optimiser(site, data, perfect=perfect, progress=reporter(label)))
    ai_result = None
    if ai_selection is not None:
        # the optimiser is the AI's default arm only where the backtest runs it (docs/ai-selection.md)
        ai_selection = replace(ai_selection, optimiser=ai_selection.optimiser and optimiser)
        ai_result = run_ai_selection(
            site,
            data,
            ai_selection,
            soc_start_pct=SOC_START_PCT,
            progress=reporter(AI_SELECTION),
            default_run=optimiser_runs[0] if optimiser_runs else None,
        )
        runs.append(ai_result.run)
    runs.extend(optimiser_runs)
    if forecast_service:
        inputs = service_forecasts(site, data, site.ems.planning_horizon_h)
        run = replay_optimiser(
            site, data, name=OPTIMISER_SERVICE, progress=reporter(OPTIMISER_SERVICE), forecasts=inputs
        )
        runs.append(run)
        notes.append(f"{OPTIMISER_SERVICE}: {forecast_line(inputs)}")
    bound_input = optimum_input(site, data)
    optimum = solve_optimum(bound_input)
    no_curtailment = None
    if bound_input.export_max_kw is None and optimum.curtailed_kw.max(initial=0.0) > 1e-6:
        no_curtailment = solve_optimum(replace(bound_input, curtailment=False)).cost_eur
    return BacktestReport(
        site, data, baseline, runs, optimum, optimum.cost_eur, no_curtailment, ai_result, tuple(notes)
    )
