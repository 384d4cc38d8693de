"""The plan on the console: the next 24 h and the reason on the site dashboard, "no plan" for a
site without the optimiser, refreshed by the WebSocket plan event and loaded on first show."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from textual.containers import Horizontal
from textual.widgets import Static

from phoenyra_ems.client import Plan, PlanEvent, PlanSlack, PlanStatus, PlanStep, SitePlan
from tests.tui.conftest import NOW, STRATEGIES, fixed_backend, wait_for
from tui.app import PhoenyraConsole
from tui.core.connection import ConnectionManager
from tui.core.plan import NO_OPTIMISER, plan_line, plan_series
from tui.core.store import ConsoleStore

START = NOW.replace(minute=15)  # the plan started a step before NOW (10:30 UTC)


def make_plan(
    site_id: str = "wien",
    reason: str = "plan: charging 20.0 kW from PV at 90 EUR/MWh",
    status: PlanStatus = PlanStatus.OPTIMAL,
    hours: int = 48,
) -> SitePlan:
    steps = tuple(
        PlanStep(
            START + timedelta(minutes=15 * k),
            -20.0 if k < 16 else 10.0,
            0.0,
            min(90.0, 50.0 + k),
            80.0 + k % 96,
            0.0,
            40.0,
        )
        for k in range(hours * 4)
    )
    plan = Plan(START, 900.0, status, "", 4.0, "history baselines", PlanSlack(0, 0, 0), steps, reason)
    return SitePlan(site_id, True, plan)


def planning_backend() -> Any:
    backend = fixed_backend()
    store = backend.store
    store.sites["wien"] = replace(store.sites["wien"], strategies=("optimiser", *STRATEGIES))
    store.set_plan(make_plan())
    return backend


def test_the_next_24_hours_and_the_line() -> None:
    series = plan_series(make_plan(), NOW)
    # the finished 10:15 step is left out; 10:30 (now) … 10:15 tomorrow
    assert series.x[0] == 0.0 and len(series.x) == 24 * 4 and max(series.x) == 23.75
    assert series.battery_kw[0] == -20.0 and series.soc_pct[0] == 51.0
    halfway = plan_series(make_plan(), NOW + timedelta(minutes=5))  # a step under way starts at 0
    assert halfway.x[:2] == [0.0, 10 / 60] and halfway.soc_pct[0] == 51.0
    assert plan_series(make_plan(hours=2), NOW + timedelta(hours=3)).empty  # an old plan: nothing
    site = fixed_backend().store.sites["wien"]
    assert plan_line(site, None) == NO_OPTIMISER
    planning = replace(site, strategies=("optimiser",))
    assert plan_line(planning, SitePlan("wien", True, None)) == "plan: waiting for the first plan"
    assert plan_line(planning, make_plan()).startswith("plan: charging 20.0 kW from PV at 90 EUR/MWh · ")
    failed = make_plan(status=PlanStatus.FAILED)
    assert plan_line(planning, replace(failed, plan=replace(failed.plan, message="time-out"))) == (
        "plan failed: time-out (self-consumption instead)"
    )
    assert plan_series(failed, NOW).empty


async def test_the_dashboard_shows_the_plan_and_follows_plan_events() -> None:
    backend = planning_backend()
    app = PhoenyraConsole(backend, start_screen="site")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#plan-line"), timeout=5, what="the dashboard")
        app.render_now()
        screen = app.screen
        line = screen.query_one("#plan-line", Static)
        assert str(line.render()).startswith("plan: charging 20.0 kW from PV")
        charts = screen.query_one("#plan-charts", Horizontal)
        assert charts.display
        await wait_for(pilot, lambda: charts.size.height >= 6, timeout=5, what="the plan charts laid out")

        # A plan event (what the WebSocket delivers) replaces the plan on screen.
        manager = ConnectionManager(backend.store, lambda: None)  # type: ignore[arg-type,return-value]
        manager._on_event(
            PlanEvent("wien", make_plan(reason="plan: holding 64 % until 17:00 at 240 EUR/MWh"))
        )
        app.render_now()
        await pilot.pause(0.05)
        assert str(line.render()).startswith("plan: holding 64 % until 17:00")

        # Linz does not plan: one clear line, no plan charts.
        app.switch_site_id("linz")
        app.render_now()
        await pilot.pause(0.05)
        assert str(line.render()) == NO_OPTIMISER
        assert not charts.display


class PlanClient:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def plan(self, site_id: str) -> SitePlan:
        self.asked.append(site_id)
        return make_plan(site_id)


async def test_a_planning_sites_plan_is_loaded_when_first_shown() -> None:
    store = ConsoleStore()
    backend = planning_backend()
    store.set_sites(backend.store.sites.values())
    client = PlanClient()
    manager = ConnectionManager(store, lambda: client)  # type: ignore[arg-type,return-value]
    await manager._load_plan("wien")
    await manager._load_plan("linz")  # no optimiser there: not even asked
    assert client.asked == ["wien"] and store.plans["wien"] == make_plan()
    assert isinstance(store.plans["wien"].plan.start, datetime)  # type: ignore[union-attr]
