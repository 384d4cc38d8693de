"""The fleet: failure isolation with retries, runtime reload touching only what changed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from phoenyra_ems import fleet as fleet_module
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import EmsConfig, EmsSettings
from phoenyra_ems.fleet import Fleet
from phoenyra_ems.models import SiteStatus
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def simulators() -> AsyncIterator[dict[str, BatterySimulator]]:
    sims: dict[str, BatterySimulator] = {}
    yield sims
    for sim in sims.values():
        await sim.stop()


async def site_with_simulator(sims: dict[str, BatterySimulator], site_id: str, history: Path):  # type: ignore[no-untyped-def]
    site = replace(
        make_site(free_port(), ems=EmsSettings(cycle_s=0.2, history_dir=str(history))),
        site_id=site_id,
        name=site_id,
    )
    sims[site_id] = BatterySimulator(simulator_config(site), SystemClock())
    await sims[site_id].start()
    return site


async def test_a_site_that_cannot_start_is_failed_retried_and_never_stops_the_others(
    tmp_path: Path, simulators: dict[str, BatterySimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet_module, "RETRY_START_S", 0.2)
    good = await site_with_simulator(simulators, "good", tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the history directory should be")
    bad = await site_with_simulator(simulators, "bad", blocker)
    fleet = Fleet(EmsConfig({"good": good, "bad": bad}, "good"), SystemClock())
    await fleet.start()
    try:
        await until(lambda: fleet.slots["good"].state.status is SiteStatus.RUNNING)
        await until(lambda: fleet.slots["bad"].failures >= 2)  # retried with backoff
        bad_state = fleet.slots["bad"].state
        assert bad_state.status is SiteStatus.FAILED
        assert "site_failed" in {a.code for a in bad_state.alarms}
        assert fleet.slots["good"].state.status is SiteStatus.RUNNING
        # fix the cause: the next retry brings the site up by itself
        blocker.unlink()
        await until(lambda: fleet.slots["bad"].state.status is SiteStatus.RUNNING, timeout=10)
    finally:
        await fleet.stop()


async def test_reload_adds_removes_and_restarts_only_what_changed(
    tmp_path: Path, simulators: dict[str, BatterySimulator]
) -> None:
    a = await site_with_simulator(simulators, "a", tmp_path)
    b = await site_with_simulator(simulators, "b", tmp_path)
    c = await site_with_simulator(simulators, "c", tmp_path)
    fleet = Fleet(EmsConfig({"a": a, "b": b}, "a"), SystemClock())
    await fleet.start()
    try:
        await until(lambda: all(s.state.status is SiteStatus.RUNNING for s in fleet.slots.values()))
        controller_a = fleet.controller("a")
        controller_b = fleet.controller("b")
        changed_b = replace(b, name="B renamed")
        result = await fleet.apply_config(EmsConfig({"b": changed_b, "c": c}, "b"))
        assert (result.added, result.removed, result.reloaded) == (("c",), ("a",), ("b",))
        assert "a" not in fleet.slots
        assert simulators["a"].model.setpoint_kw == 0.0  # the removed site was left safe
        await until(lambda: all(s.state.status is SiteStatus.RUNNING for s in fleet.slots.values()))
        assert fleet.controller("b") is not controller_b
        assert controller_a is not None
        unchanged = await fleet.apply_config(EmsConfig({"b": changed_b, "c": c}, "b"))
        assert unchanged.unchanged == ("b", "c") and not unchanged.reloaded
    finally:
        await fleet.stop()


async def test_aggregate_weights_soc_by_capacity(
    tmp_path: Path, simulators: dict[str, BatterySimulator]
) -> None:
    small = await site_with_simulator(simulators, "small", tmp_path)
    big = await site_with_simulator(simulators, "big", tmp_path)
    big = replace(big, bess=replace(big.bess, energy_capacity_kwh=600))
    await simulators["small"].stop()
    simulators["small"] = BatterySimulator(simulator_config(small, soc_pct=20.0), SystemClock())
    await simulators["small"].start()
    await simulators["big"].stop()
    simulators["big"] = BatterySimulator(simulator_config(big, soc_pct=80.0), SystemClock())
    await simulators["big"].start()
    fleet = Fleet(EmsConfig({"small": small, "big": big}, "small"), SystemClock())
    await fleet.start()
    try:
        await until(lambda: all(s.state.last_reading is not None for s in fleet.slots.values()))
        agg = fleet.aggregated()
        assert agg.site_count == 2 and agg.total_capacity_kwh == 800
        assert agg.soc_avg_pct == pytest.approx((20 * 200 + 80 * 600) / 800, abs=1.0)
    finally:
        await fleet.stop()
