"""A site with the optimiser under a VPP schedule: the plan holds the committed power for the
event's window and the site's own plan goes on around it; the schedule's end replans without it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.strategies.optimiser import Optimiser
from phoenyra_ems.core.vpp import VppInterval, VppSchedule
from phoenyra_ems.models import Measurements, SiteMode
from tests.conftest import make_site
from tests.test_controller_faults import ScriptedDevice
from tests.test_controller_optimiser import START, ManualClock, Prices


async def test_the_optimiser_plans_around_a_committed_event_and_returns_after_it() -> None:
    site = make_site(
        5020,
        ems=EmsSettings(
            cycle_s=60.0, price_source="none", strategies=("optimiser",), default_strategy="optimiser"
        ),
    )
    reading = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=0.0, p_pv_kw=0.0,
                           p_load_kw=30.0, p_grid_kw=30.0)  # fmt: skip
    device = ScriptedDevice(reading=reading)
    clock = ManualClock(START)
    controller = SiteController(site, device, clock, Prices())  # type: ignore[arg-type]
    optimiser = controller.optimiser
    assert isinstance(optimiser, Optimiser)
    for _ in range(3):  # its own plan first
        await controller.cycle()
        await clock.sleep(60.0)
    assert controller.state.strategy == "optimiser" and optimiser.plan is not None
    # an event from 10:30 to 11:00: 40 kW of discharge, and at most 10 kW of import
    start = START + timedelta(minutes=30)
    event = VppSchedule("ev7", "p", (VppInterval(start, start + timedelta(minutes=30), 40.0, 10.0),))
    controller.apply_vpp(event)
    replans = optimiser.replans
    await controller.cycle()
    assert optimiser.replans == replans + 1  # the schedule is new input: a new plan at once
    plan = optimiser.plan
    assert plan is not None and plan.ok
    k = plan.index_at(start)
    assert k is not None and plan.battery_kw[k] == pytest.approx(40.0)
    assert plan.grid_kw[k] <= 10.0 + 1e-6
    assert controller.state.vpp is not None and controller.state.vpp.event_id is None  # not started yet
    while clock.now() < start + timedelta(minutes=5):
        await clock.sleep(60.0)
        state = await controller.cycle()
    assert state.strategy == "vpp" and state.setpoint == pytest.approx(40.0)
    assert state.vpp is not None and state.vpp.event_id == "ev7" and state.vpp.deviation_kw == 0.0
    # the operator's manual mode ranks above the event, and the gap is reported
    from phoenyra_ems.core.decision import ControlIntent

    controller.set_intent(ControlIntent(mode=SiteMode.MANUAL, manual_setpoint_kw=0.0))
    await clock.sleep(60.0)
    state = await controller.cycle()
    assert state.setpoint < 40.0 and state.vpp is not None  # on its way to 0 kW (ramp rate)
    assert state.vpp.deviation_kw == pytest.approx(state.setpoint - 40.0)
    assert "operator manual mode overrides the schedule" in state.vpp.notes
    controller.set_intent(ControlIntent())
    while clock.now() < start + timedelta(minutes=31):
        await clock.sleep(60.0)
        state = await controller.cycle()
    assert state.strategy == "optimiser" and state.vpp is not None and state.vpp.event_id is None
    assert controller.vpp.schedule is None and controller.vpp.ended == ("ev7",)
    assert controller.vpp.deviation.max_abs_kw >= 20.0
