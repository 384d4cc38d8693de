"""Energy counters kept by the daemon: integrated from each cycle's reading, persisted with the
history, exact across a restart, in the API's state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from phoenyra_ems.api.serialize import state_json
from phoenyra_ems.client.models import SiteState
from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.energy import EnergyMeter, EnergyTotals, positive_part_kwh
from phoenyra_ems.history.store import HistoryStore
from phoenyra_ems.models import Measurements
from phoenyra_ems.prices import NoPrices
from tests.conftest import make_site
from tests.test_controller_faults import ScriptedDevice

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# charging 10 kW from the grid: 5 kW load + 10 kW battery = 15 kW import
CHARGING = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=-10.0, p_pv_kw=0.0,
                        p_load_kw=5.0, p_grid_kw=15.0)  # fmt: skip


class StepClock:
    speed = 1.0

    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - the test drives the cycles
        raise AssertionError("no control loop in this test")


def test_a_sign_change_is_split_at_the_zero_crossing() -> None:
    # -5 kW to +15 kW over 1 h: positive for 3/4 h, a triangle of 15 kW height
    assert positive_part_kwh(-5.0, 15.0, 1.0) == pytest.approx(0.75 * 15 / 2)
    assert positive_part_kwh(15.0, -5.0, 1.0) == pytest.approx(0.75 * 15 / 2)
    assert positive_part_kwh(-1.0, -2.0, 1.0) == 0.0


def test_no_totals_before_the_stored_base_is_known_and_gaps_are_not_counted() -> None:
    meter = EnergyMeter(max_gap_s=600)
    meter.add(T0, -10.0, 15.0)
    meter.add(T0 + timedelta(minutes=6), -10.0, 15.0)  # 0.1 h
    assert meter.totals is None  # a reader never sees a counter start low and jump
    meter.restore(EnergyTotals(charged_kwh=100.0, since=T0 - timedelta(days=9)))
    totals = meter.totals
    assert totals is not None
    assert totals.charged_kwh == pytest.approx(101.0) and totals.imported_kwh == pytest.approx(1.5)
    assert totals.since == T0 - timedelta(days=9)
    meter.add(T0 + timedelta(minutes=20), -10.0, 15.0)  # 14 min later: a gap, not counted
    meter.gap()
    meter.add(T0 + timedelta(minutes=21), -10.0, 15.0)  # after a missing reading: a new chain
    assert meter.totals == totals


def _controller(path: Path, clock: StepClock, device: ScriptedDevice) -> SiteController:
    site = make_site(5020, ems=EmsSettings(cycle_s=60.0, price_source="none"))
    history = HistoryStore(path, flush_interval_s=1e9, batch_size=1000)  # written on close only
    return SiteController(site, device, clock, NoPrices(), history)  # type: ignore[arg-type]


async def test_counters_continue_exactly_across_a_daemon_restart(tmp_path: Path) -> None:
    clock, device = StepClock(), ScriptedDevice(reading=CHARGING)
    first = _controller(tmp_path / "site.db", clock, device)
    assert first.history is not None and await first.history.start()  # no loop: cycles by hand
    for _ in range(11):  # 10 intervals of 60 s = 1/6 h at 10 kW charging, 15 kW import
        await first.cycle()
        clock.t += timedelta(seconds=60)
    energy = first.state.energy
    assert energy is not None
    assert energy.charged_kwh == pytest.approx(10 / 6) and energy.imported_kwh == pytest.approx(15 / 6)
    assert energy.discharged_kwh == 0.0 and energy.exported_kwh == 0.0
    await first.stop()

    clock.t += timedelta(minutes=5)  # the daemon was away: unknown, not counted
    device.reading = replace(CHARGING, p_bess_kw=6.0, p_load_kw=1.0, p_grid_kw=-5.0)  # discharging
    second = _controller(tmp_path / "site.db", clock, device)
    assert second.history is not None and await second.history.start()
    for _ in range(7):  # 6 intervals = 0.1 h discharging 6 kW, exporting 5 kW
        await second.cycle()
        clock.t += timedelta(seconds=60)
    after = second.state.energy
    assert after is not None
    assert after.charged_kwh == pytest.approx(10 / 6)
    assert after.imported_kwh == pytest.approx(15 / 6)
    assert after.discharged_kwh == pytest.approx(0.6) and after.exported_kwh == pytest.approx(0.5)
    assert after.since == T0

    body = state_json(second.state)
    assert body["energy"]["discharged_kwh"] == pytest.approx(0.6)
    client_view = SiteState.from_dict(body)  # what Home Assistant and the console read
    assert client_view.energy is not None and client_view.energy.since == T0
    await second.stop()
