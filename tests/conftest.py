"""Shared fixtures: free loopback ports, site configs, a simulator + controller pair on real TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from phoenyra_ems.clock import Clock
from phoenyra_ems.config.model import (
    BessConfig,
    EmsSettings,
    FeedinLimitationConfig,
    ForecastConfig,
    GridConnectionConfig,
    GridTariffConfig,
    ModbusConfig,
    SiteConfig,
)
from phoenyra_ems.controller import SiteController
from phoenyra_ems.devices.modbus_driver import ModbusDevice
from phoenyra_ems.history.store import HistoryStore, database_path
from phoenyra_ems.prices import ReplayPriceProvider
from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig
from tests.ports import free_port as free_port  # re-exported: tests import it from here

pytest_plugins = ["tests.daemon_fixtures", "tests.hang_report"]


@pytest.fixture
def port() -> int:
    return free_port()


def make_site(port: int, **overrides: object) -> SiteConfig:
    """A Wien-like commercial site: 200 kWh / 100 kW, 120 kWp PV, 150 kW connection."""
    site = SiteConfig(
        site_id="wien",
        name="Wien",
        bess=BessConfig(200, 100, 100, 0.95, 0.95, 10, 90),
        modbus=ModbusConfig(host="127.0.0.1", port=port, profile="generic", timeout_s=0.5),
        forecast=ForecastConfig(pv_peak_power_kw=120),
        grid_connection=GridConnectionConfig(max_power_kw=150),
        feedin_limitation=FeedinLimitationConfig(enabled=True, mode="fixed", fixed_limit_pct=50),
        grid_tariffs=GridTariffConfig(
            energy_price_markup_eur_mwh=60, feedin_tariff_eur_mwh=50, peak_import_cap_kw=80
        ),
        ems=EmsSettings(cycle_s=1.0),
    )
    return replace(site, **overrides)  # type: ignore[arg-type]


def simulator_config(site: SiteConfig, **overrides: object) -> SimulatorConfig:
    config = SimulatorConfig(
        profile=site.modbus.profile,
        parameters=site.modbus.parameters,
        port=site.modbus.port,
        unit_id=site.modbus.unit_id,
        capacity_kwh=site.bess.energy_capacity_kwh,
        charge_max_kw=site.bess.power_charge_max_kw,
        discharge_max_kw=site.bess.power_discharge_max_kw,
        pv_peak_kw=site.forecast.pv_peak_power_kw,
        load_kind="commercial",
        annual_load_mwh=280,  # p99 of the load ≈ 85 kW: the 80 kW peak cap bites on a few peaks
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


SitePair = tuple[BatterySimulator, SiteController]


@pytest.fixture
async def site_pair(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Factory: start a simulator and a controller for ``site`` on one clock; both stopped after."""
    started: list[SitePair] = []

    async def start(site: SiteConfig, clock: Clock, sim: SimulatorConfig | None = None) -> SitePair:
        simulator = BatterySimulator(sim or simulator_config(site), clock)
        await simulator.start()
        device = ModbusDevice(site.modbus, site.bess, clock)
        history = HistoryStore(database_path(tmp_path, site.site_id))
        controller = SiteController(site, device, clock, ReplayPriceProvider("at"), history)
        started.append((simulator, controller))
        await controller.start()
        assert await device.wait_ready(5.0), "driver did not connect to the simulator"
        return simulator, controller

    yield start
    for simulator, controller in started:
        await controller.stop()
        await simulator.stop()


def local(text: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Vienna"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that leaves a daemon or store open leaves threads that would hang the run at exit:
    name them and fail the run instead of hanging CI."""
    import threading
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
        if not leaked:
            return
        time.sleep(0.1)
    print(f"\nleaked non-daemon threads (a daemon or store was not stopped): {[t.name for t in leaked]}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config.stash[LEAKED] = True


LEAKED = pytest.StashKey[bool]()


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(LEAKED, False):
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)  # the leaked threads would keep the interpreter alive forever
