"""The daemon's forecasts drive the live plans: a site with ``forecast.enabled`` plans from its
forecast service's load and PV (and price forecast where the service has one) for the horizon they
cover, the history baselines otherwise and beyond, and the plan says which."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from phoenyra_ems.config.model import PRESENT_DECAY_H, EmsSettings, ForecastConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.optimiser.live import PlanHistory, ServiceForecast, on_steps
from phoenyra_ems.forecast.service import SiteForecast, SiteForecaster
from phoenyra_ems.models import Measurements
from tests.conftest import make_site
from tests.test_controller_faults import ScriptedDevice
from tests.test_controller_optimiser import START, ManualClock, Prices

READING = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=0.0, p_pv_kw=0.0,
                       p_load_kw=30.0, p_grid_kw=30.0)  # fmt: skip


def site(enabled: bool):  # type: ignore[no-untyped-def]
    return make_site(
        5020,
        forecast=ForecastConfig(pv_peak_power_kw=120, enabled=enabled),
        ems=EmsSettings(
            cycle_s=60.0,
            price_source="none",
            strategies=("optimiser",),
            default_strategy="optimiser",
            planning_horizon_h=36.0,
        ),
    )


async def plan_of(controller: SiteController, cycles: int = 2):  # type: ignore[no-untyped-def]
    clock = controller.clock
    for _ in range(cycles):
        state = await controller.cycle()
        await clock.sleep(60.0)  # type: ignore[attr-defined]
    assert controller.optimiser is not None and controller.optimiser.plan is not None
    return controller.optimiser.plan, state


def with_forecaster(s, latest: SiteForecast | None, error: str | None = None) -> SiteController:  # type: ignore[no-untyped-def]
    controller = SiteController(s, ScriptedDevice(reading=READING), ManualClock(START), Prices())  # type: ignore[arg-type]
    service = SiteForecaster(s, executor=None)  # type: ignore[arg-type]
    service.latest, service.last_error = latest, error
    controller.attachments.append(service)  # never started: its latest forecast is set here
    return controller


async def test_a_site_with_forecasts_enabled_plans_from_them() -> None:
    hourly_pv = [0.0] * 6 + [40.0] * 12 + [0.0] * 6  # 24 h at 1 h steps from 10:00
    latest = SiteForecast("wien", START, START, 900, (55.0,) * 96, None, None, 1.0)
    latest = replace(latest, pv_kw=tuple(np.repeat(hourly_pv, 4)), pv_source="weather")
    plan, state = await plan_of(with_forecaster(site(True), latest))
    assert plan.source == (
        "load: forecast service 24 h, history baselines beyond; PV: forecast service 24 h, history "
        "baselines beyond; prices: published 36 h"
    )
    assert plan.ok and state.strategy_reason.startswith("plan: ")
    # the present step is measured (30 kW), the next 24 h are the service's, then the baselines;
    # the present's 25 kW below the forecast fades over the next steps (exp(-lead / 0.5 h))
    assert plan.load_kw[0] == 30.0 and plan.load_kw[96] != 55.0
    assert plan.load_kw[1] == pytest.approx(55.0 - 25.0 * np.exp(-0.25 / PRESENT_DECAY_H))
    assert np.all(np.diff(plan.load_kw[:96]) >= 0) and np.allclose(plan.load_kw[12:96], 55.0, atol=0.1)
    assert plan.pv_kw[30] == 40.0 and plan.pv_kw[90] == 0.0


@pytest.mark.parametrize(
    ("enabled", "latest_age_h", "error", "source"),
    [
        (False, None, None, "history baselines"),
        (True, None, "worker died", "history baselines (forecast service: none yet, worker died)"),
        (True, 4.0, None, "history baselines (forecast service: stale)"),
    ],
)  # fmt: skip
async def test_without_a_usable_forecast_the_plan_uses_the_baselines_and_says_why(
    enabled: bool, latest_age_h: float | None, error: str | None, source: str
) -> None:
    latest = None
    if latest_age_h is not None:
        made = START - timedelta(hours=latest_age_h)
        latest = SiteForecast("wien", made, made, 900, (55.0,) * 192, None, None, 1.0)
    plan, state = await plan_of(with_forecaster(site(enabled), latest, error))
    assert plan.ok and plan.source == source and state.strategy_reason.startswith("plan: ")
    assert not np.any(plan.load_kw == 55.0)


def test_prices_beyond_publication_come_from_the_price_forecast_where_there_is_one() -> None:
    s = site(True)
    history = PlanHistory(s)
    published = Prices().slots(START, 6.0)  # 6 h published, 36 h planned
    forecast = ServiceForecast(
        START, START, 3600.0, load_kw=(10.0,) * 24, price_eur_mwh=tuple(float(500 + k) for k in range(24))
    )
    inputs = history.inputs(START, published, 1.0, forecast)
    prices = inputs.price_eur_mwh
    assert inputs.published_steps == 24 and np.all(prices[:16] == 20.0) and np.all(prices[16:24] == 300.0)
    assert prices[24] == 506.0 and prices[95] == 523.0  # hourly forecast on 15-min steps
    assert inputs.source == (
        "load: forecast service 24 h, history baselines beyond; PV: history baselines; prices: "
        "published 6 h, price forecast 18 h, last known day beyond"
    )
    assert np.all(inputs.load_kw[:96] == 10.0)


def test_a_forecast_is_resampled_onto_the_plan_steps() -> None:
    times = [START + timedelta(minutes=15 * k) for k in range(4)]
    five_min = on_steps([1.0, 2.0, 3.0, 10.0, 10.0, 10.0], START, 300.0, times)
    assert five_min[:2].tolist() == [2.0, 10.0] and np.isnan(five_min[2:]).all()  # means; none beyond
    late = on_steps([7.0, 8.0], START + timedelta(minutes=30), 3600.0, times)
    assert np.isnan(late[:2]).all() and late[2:].tolist() == [7.0, 7.0]
