"""The plan on the API's surfaces: ``GET /sites/{id}/plan`` through the typed client, and the
WebSocket ``plan`` event on every replan — a real daemon, a real simulator, real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from phoenyra_ems.client import (
    Event,
    PhoenyraClient,
    PhoenyraInvalidResponseError,
    PhoenyraNotFoundError,
    Plan,
    PlanEvent,
    PlanStatus,
    SitePlan,
    StateEvent,
    SubscribedEvent,
    parse_event,
)
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.models import SiteStatus
from tests.daemon_fixtures import RunningDaemon, started_simulators, two_site_config

START = datetime(2024, 6, 1, 22, 0, tzinfo=UTC)


def plan_json(**overrides: Any) -> dict[str, Any]:
    steps = [
        {
            "start": (START + timedelta(minutes=15 * k)).isoformat(),
            "battery_kw": -2.0 if k < 2 else 1.0,
            "grid_kw": 1.5,
            "soc_pct": 50.0 + k,
            "price_eur_mwh": 100.0 + k,
            "pv_kw": 0.0,
            "load_kw": 0.5,
        }
        for k in range(8)
    ]
    plan = {
        "start": START.isoformat(),
        "step_s": 900,
        "status": "optimal",
        "message": "",
        "solve_ms": 3.2,
        "source": "history baselines",
        "slack": {"soc_kwh": 0, "export_kw": 0, "import_kw": 0},
        "steps": steps,
        "reason": "plan: charging 2.0 kW from the grid at 100 EUR/MWh",
    }
    return {"site_id": "wien", "enabled": True, "plan": {**plan, **overrides}}


def test_the_plan_is_parsed_strictly_and_names_the_bad_field() -> None:
    site_plan = SitePlan.from_dict(plan_json())
    plan = site_plan.plan
    assert plan is not None and plan.status is PlanStatus.OPTIMAL and len(plan.steps) == 8
    assert plan.steps[0].battery_kw == -2.0 and plan.steps[0].start == START
    assert plan.end == START + timedelta(hours=2)
    assert plan.step_at(START + timedelta(minutes=20)) == plan.steps[1]
    assert plan.step_at(START - timedelta(seconds=1)) is None and plan.step_at(plan.end) is None
    assert plan.soc_at(START + timedelta(minutes=30)) == 51.0  # the end of step 1, exactly
    assert plan.soc_at(START + timedelta(minutes=37, seconds=30)) == 51.5  # half-way through step 2
    assert plan.soc_at(plan.end) == 57.0 and plan.soc_at(plan.end + timedelta(seconds=1)) is None
    assert SitePlan.from_dict({"site_id": "linz", "enabled": False, "plan": None}).plan is None
    assert Plan.from_dict({k: v for k, v in plan_json()["plan"].items() if k != "reason"}).reason is None

    bad_steps = plan_json()["plan"]["steps"]
    bad_steps[3]["soc_pct"] = "50"
    for document, match in [
        (plan_json(steps=bad_steps), r"plan\.plan\.steps\[3\]\.soc_pct: expected a finite number"),
        (plan_json(status="great"), r"plan\.plan\.status: expected one of optimal, slack, failed"),
        (plan_json(step_s=0), r"plan\.plan\.step_s: expected a positive number"),
        (plan_json(slack=None), r"plan\.plan\.slack: expected an object"),
        ({"site_id": "wien", "enabled": True}, r"plan\.plan: missing"),
    ]:
        with pytest.raises(PhoenyraInvalidResponseError, match=match):
            SitePlan.from_dict(document)

    event = parse_event({"type": "plan", "site_id": "wien", "data": plan_json()})
    assert isinstance(event, PlanEvent) and event.plan == site_plan
    with pytest.raises(
        PhoenyraInvalidResponseError, match=r"event\[plan\]\.data\.plan\.steps: expected a list"
    ):
        parse_event({"type": "plan", "site_id": "wien", "data": plan_json(steps=None)})


@pytest.fixture
async def planning_daemon(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    """Wien plans (``optimiser`` among its strategies, simulator prices); Linz does not."""
    config = two_site_config(tmp_path)
    wien = config.sites["wien"]
    ems = replace(wien.ems, strategies=("optimiser", "self_consumption"), planning_horizon_h=6.0)
    config = replace(config, sites={**config.sites, "wien": replace(wien, ems=ems)})
    simulators = await started_simulators(config)
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    await daemon.auth.add_user("viewer", "viewer")
    await daemon.auth.grant("viewer", "wien")
    await daemon.auth.add_user("operator", "operator")
    await daemon.auth.grant("operator", "wien")
    await daemon.auth.grant("operator", "linz")
    tokens = {name: await daemon.auth.create_token(name) for name in ("viewer", "operator")}
    try:
        yield RunningDaemon(daemon, simulators, tokens)
    finally:
        await daemon.stop()
        for simulator in simulators.values():
            await simulator.stop()


async def _running(rd: RunningDaemon) -> None:
    deadline = time.monotonic() + 15
    while any(s.state.status is not SiteStatus.RUNNING for s in rd.daemon.fleet.slots.values()):
        assert time.monotonic() < deadline, "sites did not start"
        await asyncio.sleep(0.05)


async def _the_client_reads_the_plan_and_a_site_without_the_optimiser_says_so(rd: RunningDaemon) -> None:
    async with PhoenyraClient.from_url(rd.daemon.url, token=rd.tokens["operator"]) as client:
        deadline = time.monotonic() + 15
        while (wien := await client.plan("wien")).plan is None:
            assert time.monotonic() < deadline, "no plan"
            await asyncio.sleep(0.1)
        plan = wien.plan
        assert wien.enabled and plan.status in (PlanStatus.OPTIMAL, PlanStatus.SLACK)
        assert len(plan.steps) == 24 and plan.step_s == 900  # 6 h at 15 min
        assert plan.steps[1].start - plan.steps[0].start == timedelta(minutes=15)
        assert plan.reason is not None and plan.reason.startswith("plan: ")
        assert plan.source == "history baselines"  # forecasts disabled: the built-in fallback
        assert all(10.0 - 1e-6 <= s.soc_pct <= 90.0 + 1e-6 for s in plan.steps)  # the SoC window
        linz = await client.plan("linz")
        assert linz == SitePlan("linz", False, None)
        with pytest.raises(PhoenyraNotFoundError):
            await client.plan("graz")


async def test_the_plan_over_rest_and_to_subscribers_on_every_replan(planning_daemon: RunningDaemon) -> None:
    """One daemon for both (a daemon with a planning site costs a second to start)."""
    rd = planning_daemon
    await _running(rd)
    await _the_client_reads_the_plan_and_a_site_without_the_optimiser_says_so(rd)
    # Subscribers get every new plan, and only for their sites.
    received: dict[str, list[Event]] = {"viewer": [], "operator": []}
    async with (
        PhoenyraClient.from_url(rd.daemon.url, token=rd.tokens["viewer"]) as viewer,
        PhoenyraClient.from_url(rd.daemon.url, token=rd.tokens["operator"]) as operator,
    ):
        listeners = []
        for name, client in (("viewer", viewer), ("operator", operator)):
            await client.connect()
            listeners.append(asyncio.create_task(client.listen(received[name].append)))
        await viewer.subscribe(["wien"])
        await operator.subscribe(["linz"])

        async def seen(name: str, kind: type, count: int = 1) -> list[Any]:
            deadline = time.monotonic() + 15
            while len(found := [e for e in received[name] if isinstance(e, kind)]) < count:
                assert time.monotonic() < deadline, f"{name}: no {kind.__name__} (got {received[name]})"
                await asyncio.sleep(0.05)
            return found

        await seen("viewer", SubscribedEvent)
        await seen("operator", StateEvent)
        # A limit change replans at once; the subscriber gets the new plan, as GET serves it.
        await operator.set_limits("wien", power_charge_max_kw=20.0)
        event = (await seen("viewer", PlanEvent))[-1]
        assert event.site_id == "wien" and event.plan.enabled and event.plan.plan is not None
        assert min(s.battery_kw for s in event.plan.plan.steps) >= -20.0 - 1e-6
        assert (await viewer.plan("wien")) == event.plan
        await operator.set_limits("wien", power_charge_max_kw=10.0)
        newer = (await seen("viewer", PlanEvent, 2))[-1]
        assert (
            newer.plan.plan is not None and min(s.battery_kw for s in newer.plan.plan.steps) >= -10.0 - 1e-6
        )
        # The operator watches Linz only (no optimiser there): no plan events at all.
        assert not [e for e in received["operator"] if isinstance(e, PlanEvent)]
        for client in (viewer, operator):
            await client.disconnect()
        await asyncio.wait_for(asyncio.gather(*listeners), 10)


def test_a_failed_plan_is_served_with_its_message_and_no_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    from phoenyra_ems.api.plans import plan_body
    from phoenyra_ems.core.optimiser import plan as plan_module
    from tests.test_optimiser import LIMITS, SPOT, inputs

    real = plan_module.solve
    monkeypatch.setattr(plan_module, "solve", lambda problem: real(replace(problem, step_h=-1.0)))
    failed = plan_module.make_plan(inputs(), LIMITS, SPOT, 50.0, plan_module.OptimiserSettings())
    body = plan_body("wien", True, failed)
    parsed = SitePlan.from_dict(body).plan
    assert parsed is not None and parsed.status is PlanStatus.FAILED and parsed.steps == ()
    assert parsed.reason == failed.message and parsed.reason.startswith("invalid input")
