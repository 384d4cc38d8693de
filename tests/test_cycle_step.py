"""One cycle step for live control and backtests: the controller and the backtest replay build the
same ``decide()`` inputs from the same measurements, and so write the same setpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from phoenyra_ems import controller as controller_module
from phoenyra_ems.backtest import replay as replay_module
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.replay import known_until, replay
from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.cycle import CycleStep, build_step, net_load_samples
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.core.strategies.base import PriceSlot
from phoenyra_ems.models import Measurements, PlantState
from tests.conftest import make_site
from tests.test_controller_faults import ScriptedDevice
from tests.test_controller_optimiser import ManualClock

HOURS = 30


def household_data() -> BacktestData:
    """From 09:00 UTC (11:00 Vienna: tomorrow's prices come out at the third step)."""
    index = pd.date_range(datetime(2024, 6, 3, 9, tzinfo=UTC), periods=48, freq="1h")
    hours = np.arange(len(index))
    load = 40.0 + 30.0 * np.sin(hours / 3.0) ** 2
    pv = np.clip(90.0 * np.sin((hours - 1) / 10.0 * np.pi), 0.0, None)
    price = 60.0 + 80.0 * np.cos(hours / 4.0)
    return BacktestData(index, load, pv, price, "synthetic")


class PublishedPrices:
    """The prices the backtest knows at each instant (today; tomorrow from 13:00 local)."""

    slot_hours = 1.0

    def __init__(self, data: BacktestData, timezone: str) -> None:
        self.data, self.timezone = data, timezone

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        index = self.data.index
        i = int(index.searchsorted(pd.Timestamp(now), side="right")) - 1
        end = int(index.searchsorted(known_until(now.astimezone(_zone(self.timezone)))))
        return tuple(
            PriceSlot(index[j].to_pydatetime(), float(self.data.price_eur_mwh[j])) for j in range(i, end)
        )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def recorder(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[CycleStep]:
    steps: list[CycleStep] = []
    real = module.decide_step

    def record(step: CycleStep, *args: Any) -> Any:
        steps.append(step)
        return real(step, *args)

    monkeypatch.setattr(module, "decide_step", record)
    return steps


async def test_controller_and_backtest_build_the_same_step_from_the_same_measurements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = make_site(5020, ems=EmsSettings(cycle_s=3600.0, price_source="none", min_strategy_dwell_s=0.0))
    whole = household_data()
    data = BacktestData(
        whole.index[:HOURS], whole.load_kw[:HOURS], whole.pv_kw[:HOURS], whole.price_eur_mwh[:HOURS], "30 h"
    )
    backtest_steps = recorder(monkeypatch, replay_module)
    result = replay(site, data, None, soc_start_pct=50.0)
    assert result.switches > 0  # the selection moves between strategies: a real comparison

    live_steps = recorder(monkeypatch, controller_module)
    device = ScriptedDevice(hold=3600.0)
    clock = ManualClock(data.index[0].to_pydatetime())
    controller = SiteController(site, device, clock, PublishedPrices(data, site.location.timezone))  # type: ignore[arg-type]
    for seen in backtest_steps:  # the meter reads what the backtest's battery and data say
        device.reading = Measurements(
            seen.state.soc, seen.state.soh, None, None, seen.state.p_pv, seen.state.p_load, None
        )
        await controller.cycle()
        await clock.sleep(3600.0)

    assert len(live_steps) == len(backtest_steps) == HOURS
    for live, backtest in zip(live_steps, backtest_steps, strict=True):
        assert live == backtest
    assert device.writes == [s.state.setpoint for s in backtest_steps[1:]] + [controller.state.setpoint]
    # load balancing sees 900 s in both: the present and the hour before at 1 h steps
    assert all(len(s.recent_net_load_kw) == 2 for s in backtest_steps[1:])
    # the strategies see 24 h of prices in both, once tomorrow's are out
    assert max(len(s.prices) for s in backtest_steps) == 24


def test_the_window_and_the_price_horizon_follow_one_rule() -> None:
    assert [net_load_samples(dt) for dt in (1.0, 60.0, 900.0, 3600.0)] == [900, 15, 2, 2]
    site = make_site(5020)
    now = datetime(2024, 6, 3, 10, 30, tzinfo=UTC)
    prices = [PriceSlot(now.replace(minute=0) + timedelta(hours=k), float(k)) for k in range(-2, 40)]
    step = build_step(
        site,
        PlantState("wien", now, soc=40.0, setpoint=-5.0),
        Measurements(soc_pct=41.0, p_pv_kw=10.0, p_grid_kw=20.0),
        ControlIntent(),
        now,
        dt_s=1.0,
        hold_s=60.0,
        prices=prices,
        slot_hours=1.0,
        past_net_load_kw=tuple(float(k) for k in range(2000)),
    )
    assert step.prices[0].eur_mwh == 0.0 and len(step.prices) == 24 and step.state.price == 0.0
    # load from the balance: grid 20 + PV 10 + battery (-5 kW, the last setpoint) = 25 kW
    assert step.state.p_load == 25.0 and step.recent_net_load_kw[-1] == 15.0
    assert len(step.recent_net_load_kw) == 900 and step.recent_net_load_kw[0] == 2000 - 899
    assert step.local_now.utcoffset() == timedelta(hours=2)  # Vienna summer time
