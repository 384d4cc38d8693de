"""How a site reacts when its device misbehaves: refused writes, missing SoC, garbage meters, hangs.

The reactions are the controller's own logic, so most cases drive it with a scripted device (a
``SiteDevice`` that replays readings and raises what a driver raises); the hang runs against the
real simulator over Modbus TCP. The same faults against real processes: tests/faults/.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.devices.errors import WriteRefused
from phoenyra_ems.history.store import HistoryStore
from phoenyra_ems.models import Measurements, PlantState, SiteMode, SiteStatus
from phoenyra_ems.prices import NoPrices
from tests.conftest import make_site

GOOD = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=0.0, p_pv_kw=10.0,
                    p_load_kw=30.0, p_grid_kw=20.0)  # fmt: skip


@dataclass
class ScriptedDevice:
    """Replays ``reading``; refuses writes while ``refuse`` is set; records what it was told."""

    reading: Measurements = GOOD
    refuse: bool = False
    hold: float = 60.0
    writes: list[float] = field(default_factory=list)
    safe_writes: int = 0

    @property
    def connected(self) -> bool:
        return True

    @property
    def hold_s(self) -> float:
        return self.hold

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def read(self) -> Measurements:
        return self.reading

    async def write_setpoint(self, kw: float) -> bool:
        if self.refuse:
            raise WriteRefused("write to 40100 refused: exception code 4")
        self.writes.append(kw)
        return True

    async def write_safe(self) -> None:
        if self.refuse:
            raise WriteRefused("write to 40100 refused: exception code 4")
        self.safe_writes += 1


def controller_for(device: ScriptedDevice, **ems: Any) -> SiteController:
    site = make_site(5020, ems=EmsSettings(cycle_s=1.0, price_source="none", **ems))
    controller = SiteController(site, device, SystemClock(), NoPrices())  # type: ignore[arg-type]
    controller.set_intent(ControlIntent(mode=SiteMode.MANUAL, manual_setpoint_kw=-30.0))
    return controller


def codes(state: PlantState) -> set[str]:
    return {a.code for a in state.alarms}


async def test_a_refused_write_is_its_own_alarm_and_the_site_stays_safe_without_flapping() -> None:
    device = ScriptedDevice()
    controller = controller_for(device, comm_timeout_cycles=1)
    assert (await controller.cycle()).status is SiteStatus.RUNNING
    device.refuse = True
    statuses = [(await controller.cycle()).status for _ in range(5)]
    assert statuses == [SiteStatus.SAFE] * 5  # every cycle, not every other one
    state = controller.state
    assert state.setpoint == 0.0 and "write_failed" in codes(state)
    assert "comm_lost" not in codes(state)  # the device answers: it is not a lost link
    assert "refused the setpoint" in (state.strategy_reason or "")
    device.refuse = False
    state = await controller.cycle()
    assert state.status is SiteStatus.RUNNING and "write_failed" not in codes(state)
    assert device.writes[-1] == pytest.approx(-30.0)


async def test_a_refused_write_raises_the_alarm_whatever_the_comm_timeout() -> None:
    device = ScriptedDevice(refuse=True)
    controller = controller_for(device, comm_timeout_cycles=5)
    state = await controller.cycle()
    assert state.status is SiteStatus.SAFE and "write_failed" in codes(state)


async def test_soc_never_read_means_safe_at_once() -> None:
    device = ScriptedDevice(reading=replace(GOOD, soc_pct=None))
    controller = controller_for(device)
    state = await controller.cycle()
    assert state.status is SiteStatus.SAFE and "soc_unavailable" in codes(state)
    assert device.writes == [] and device.safe_writes == 1


async def test_soc_that_goes_missing_is_bridged_for_a_few_cycles_then_safe() -> None:
    device = ScriptedDevice()
    controller = controller_for(device, soc_missing_cycles=3)
    await controller.cycle()
    device.reading = replace(GOOD, soc_pct=None)  # e.g. Huawei's 0xFFFF "not available"
    first, second, third = [await controller.cycle() for _ in range(3)]
    assert first.status is second.status is SiteStatus.RUNNING
    assert third.status is SiteStatus.SAFE and third.setpoint == 0.0
    assert "soc_unavailable" in codes(third) and device.safe_writes == 1
    device.reading = GOOD
    state = await controller.cycle()
    assert state.status is SiteStatus.RUNNING and "soc_unavailable" not in codes(state)


@pytest.mark.parametrize(
    ("field_name", "value"),
    [("p_pv_kw", 1200.0), ("p_pv_kw", -500.0), ("p_load_kw", 3000.0), ("p_grid_kw", 900.0)],
)
async def test_garbage_meter_values_never_drive_the_battery(field_name: str, value: float) -> None:
    device = ScriptedDevice()
    controller = controller_for(device)
    await controller.cycle()
    device.reading = replace(GOOD, **{field_name: value})
    state = await controller.cycle()
    assert state.status is SiteStatus.SAFE and state.setpoint == 0.0
    assert "implausible_reading" in codes(state)
    assert field_name in next(a.message for a in state.alarms if a.code == "implausible_reading")
    assert device.writes == [pytest.approx(-30.0)]  # nothing written on the garbage


async def test_a_power_balance_that_does_not_add_up_is_rejected() -> None:
    device = ScriptedDevice(reading=replace(GOOD, p_grid_kw=-60.0))  # load 30 = -60 + 10 + 0 ?
    state = await controller_for(device).cycle()
    assert state.status is SiteStatus.SAFE and "power_balance" in state.alarms[0].message


async def test_the_soc_window_is_kept_over_the_devices_hold_time() -> None:
    """Near the top of the window, a 300 s revert timer allows less charge than a 1 s cycle would."""
    near_full = replace(GOOD, soc_pct=89.0)
    short, long = ScriptedDevice(reading=near_full, hold=1.0), ScriptedDevice(reading=near_full, hold=300.0)
    await controller_for(short).cycle()
    await controller_for(long).cycle()
    # 1 % of 200 kWh = 2 kWh of room; over 300 s that is at most ~25 kW of charge
    assert short.writes == [pytest.approx(-30.0)]
    assert -26.0 < long.writes[0] < 0


async def test_a_hung_device_is_safe_in_the_cycle_that_finds_it_and_stop_is_bounded(
    site_pair: Callable[..., Any], port: int, tmp_path: Path
) -> None:
    site = make_site(port, ems=EmsSettings(cycle_s=0.3))
    site = replace(site, modbus=replace(site.modbus, timeout_s=0.3))
    simulator, controller = await site_pair(site, SystemClock())
    controller.set_intent(ControlIntent(mode=SiteMode.MANUAL, manual_setpoint_kw=-30.0))
    await _wait_for(lambda: controller.state.setpoint == -30.0, 10)
    simulator.hang()
    cycles_at_hang, hung_at = controller.stats.cycles, time.monotonic()
    published: list[tuple[int, SiteStatus]] = []  # (cycle number, status) of every state after the hang
    controller.listeners.append(lambda state: published.append((controller.stats.cycles, state.status)))
    await _wait_for(lambda: controller.state.status is SiteStatus.SAFE, 10)
    # "in the cycle that finds it", counted in cycles (a loaded machine stretches them, it does not
    # add any): the cycle running at the hang may still have had its reading, the next one cannot
    first_safe = next(n for n, status in published if status is SiteStatus.SAFE)
    assert first_safe - cycles_at_hang <= 2, (cycles_at_hang, published)
    # and no cycle waited longer than the Modbus timeout: ~0.6 s here (2 cycles + timeout + slack
    # = 1.2 s on an idle machine); a hung read without a timeout never gets here
    assert time.monotonic() - hung_at < 2 * 0.3 + 0.3 + 2.0
    assert controller.state.setpoint == 0.0 and "comm_lost" in codes(controller.state)
    cycles = controller.stats.cycles
    await _wait_for(lambda: controller.stats.cycles - cycles >= 3, 10)  # cycles go on while it hangs
    assert [status for n, status in published if n >= first_safe] == [SiteStatus.SAFE] * (
        controller.stats.cycles - first_safe + 1
    ), published  # every one of them published, every one safe
    started = time.monotonic()
    await controller.stop()  # with the device still hung
    assert time.monotonic() - started < 8
    assert controller.history is not None and controller.history.backlog == 0
    rows = await _rows(controller.history.path)
    assert [r for r in rows if r.status == "safe"], "the safe cycles are in the history"
    simulator.unhang()


async def _rows(path: Path) -> list[Any]:
    reader = HistoryStore(path)
    await reader.open()
    try:
        now = datetime.now(UTC)
        return await reader.query(now - timedelta(minutes=5), now + timedelta(minutes=1))
    finally:
        await reader.close()


async def _wait_for(predicate: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not reached in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started
