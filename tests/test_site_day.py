"""A simulated day over real Modbus TCP, accelerated: what the history shows a user."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from statistics import fmean
from typing import Any

import pytest

from phoenyra_ems.clock import AcceleratedClock
from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.history.store import HistoryRecord
from tests.conftest import local, make_site, simulator_config

SPEED = 900.0  # a quarter of a simulated hour per real second (at 7200x, event-loop jitter on a busy
# machine became simulated minutes of a stale setpoint and broke the limits by a few kW; at 3600x a
# quiet make test once saw two late cycles at ~80 kW near the SoC floor: 7.1 % against 8.3 % allowed;
# at 1800x one saw the arbitrage day 1.26 cycles late at full power: SoC 92.1 % against 91.7 %)
CYCLE_S = 120.0  # simulated seconds per control cycle
TOLERANCE_KW = 3.0  # the meter reads the previous cycle's battery power against the present load
# A late cycle holds the setpoint longer than planned: 133 ms of event-loop delay on a busy machine is
# one whole simulated cycle here (120 s), 3.3 kWh at the battery's 100 kW (1.67 % of 200 kWh); the
# peak-shaving day discharges near the floor at ~70 kW. Real time has no such factor.
SOC_TOLERANCE_PCT = 100.0 * CYCLE_S / 3600.0 / 200.0 * 100.0

# a simulated day is 96 s of real time at 900x: more than the suite's 120 s timeout leaves under load
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def run_day(
    site_pair: Callable[..., Any], port: int, day: str, strategy: str | None
) -> list[HistoryRecord]:
    site = make_site(port, ems=EmsSettings(cycle_s=CYCLE_S, min_strategy_dwell_s=1800))
    start = local(f"{day}T00:00:00")
    clock = AcceleratedClock(start, SPEED)
    # At 900x a 60 s revert timer is 67 ms of real time: one event-loop hiccup. Give it 600 s.
    simulator, controller = await site_pair(site, clock, simulator_config(site, revert_timeout_s=600.0))
    controller.set_intent(ControlIntent(strategy=strategy))
    await asyncio.sleep(24 * 3600 / SPEED)
    assert controller.history is not None
    records = await controller.history.query(start, start + timedelta(days=1))
    assert controller.stats.cycles > 0.8 * 24 * 3600 / CYCLE_S, controller.stats
    assert simulator.model.reverts == 0, "setpoint was not re-asserted before the revert timer"
    return records


def assert_limits_held(records: list[HistoryRecord]) -> None:
    """Feed-in never exceeded; import held under the peak cap while the battery had energy; SoC window."""
    for r in records:
        assert r.p_grid >= -(120 * 0.5) - TOLERANCE_KW, (
            f"feed-in limit exceeded at {r.time}: {r.p_grid:.1f} kW"
        )
        if r.soc > 12:
            assert r.p_grid <= 80 + TOLERANCE_KW, f"import above the 80 kW cap at {r.time}: {r.p_grid:.1f} kW"
        low, high = 10 - SOC_TOLERANCE_PCT, 90 + SOC_TOLERANCE_PCT
        assert low <= r.soc <= high, f"SoC {r.soc:.1f} % outside the window at {r.time}"


async def test_arbitrage_charges_in_cheap_hours_and_discharges_in_dear_ones(
    site_pair: Callable[..., Any], port: int
) -> None:
    records = await run_day(site_pair, port, "2024-11-06", "arbitrage")
    charging = [r.price for r in records if r.setpoint < -1 and r.price is not None]
    discharging = [r.price for r in records if r.setpoint > 1 and r.price is not None]
    assert charging and discharging
    day_prices = [r.price for r in records if r.price is not None]
    assert fmean(charging) < fmean(day_prices) < fmean(discharging)
    assert fmean(discharging) - fmean(charging) > 100  # EUR/MWh: it caught the day's spread
    assert_limits_held(records)


async def test_self_consumption_absorbs_pv_surplus(site_pair: Callable[..., Any], port: int) -> None:
    records = await run_day(site_pair, port, "2024-04-29", "self_consumption")
    surplus = [r for r in records if r.p_pv - r.p_load > 5 and r.soc < 88]
    assert len(surplus) > 10, "the chosen day should have PV surplus"
    exported = sum(max(0.0, -r.p_grid) for r in surplus)
    available = sum(r.p_pv - r.p_load for r in surplus)
    assert exported < 0.1 * available, "PV surplus went to the grid instead of the battery"
    assert_limits_held(records)


async def test_auto_mode_selects_strategies_and_holds_every_limit(
    site_pair: Callable[..., Any], port: int
) -> None:
    records = await run_day(site_pair, port, "2024-11-06", None)  # a day with peaks over the cap
    strategies = {r.strategy for r in records}
    assert len(strategies - {None}) >= 2, strategies
    switches = sum(1 for a, b in itertools.pairwise(records) if a.strategy != b.strategy)
    assert switches <= 12, f"{switches} strategy switches in one day: flapping"
    peak_hours = [r for r in records if r.p_load - r.p_pv > 80 and r.soc > 12]
    assert peak_hours, "the chosen day should have net load above the 80 kW peak cap"
    for r in peak_hours:
        assert r.p_bess > 0, f"peak at {r.time} not shaved"
    assert_limits_held(records)


async def test_feedin_limit_forces_charging_even_in_standby(site_pair: Callable[..., Any], port: int) -> None:
    """Standby asks for 0 kW; a PV surplus above the feed-in limit still goes into the battery."""
    site = make_site(port, ems=EmsSettings(cycle_s=CYCLE_S))
    site = replace(site, feedin_limitation=replace(site.feedin_limitation, fixed_limit_pct=10))
    start = local("2024-04-29T11:00:00")
    clock = AcceleratedClock(start, SPEED)
    _, controller = await site_pair(site, clock)
    from phoenyra_ems.models import SiteMode

    controller.set_intent(ControlIntent(mode=SiteMode.STANDBY))
    await asyncio.sleep(3 * 3600 / SPEED)
    assert controller.history is not None
    records = await controller.history.query(start, start + timedelta(hours=3))
    forced = [r for r in records if r.p_pv - r.p_load > 12 + TOLERANCE_KW]
    assert forced, "the chosen hours should have PV surplus above 12 kW"
    assert all(r.setpoint < 0 for r in forced)
    assert_limits_held(records)
