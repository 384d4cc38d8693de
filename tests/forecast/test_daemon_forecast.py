"""A daemon site with ``forecast.enabled``: retrained from its own history file, served by the API."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import numpy as np

from phoenyra_ems.client import PhoenyraClient
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import ApiConfig, EmsConfig, EmsSettings, ForecastConfig, Location
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.forecast.datasets import konstanz_load
from phoenyra_ems.history.store import HistoryRecord, HistoryStore, database_path
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config

DAYS = 20


async def write_history(path: Path, end: datetime) -> None:
    """20 days of the Konstanz house's load as the site's recorded history, one sample per 15 min."""
    load = konstanz_load()["y"].to_numpy()[-DAYS * 24 :]
    store = HistoryStore(path, retention=timedelta(days=3650), batch_size=10_000)
    await store.open()
    start = end - timedelta(days=DAYS)
    for k in range(DAYS * 96):
        value = float(load[k // 4]) if np.isfinite(load[k // 4]) else 0.5
        when = start + timedelta(minutes=15 * k)
        await store.append(
            HistoryRecord(when.timestamp(), 50, 100, 25, 0, 0.0, value, value, 80, 0, None, "auto", "ok")
        )
    await store.close()


async def test_the_daemon_fits_in_a_worker_and_serves_the_forecast(tmp_path: Path) -> None:
    site = make_site(
        free_port(),
        ems=EmsSettings(cycle_s=0.5, history_dir=str(tmp_path)),
        location=Location(city="Wien", latitude=48.2, longitude=16.37),
        forecast=ForecastConfig(pv_peak_power_kw=120, enabled=True, step_s=900, history_days=30),
    )
    await write_history(database_path(tmp_path, site.site_id), datetime.now(UTC))
    other = replace(
        make_site(free_port(), ems=EmsSettings(cycle_s=0.5, history_dir=str(tmp_path))),
        site_id="linz",
        name="Linz",
    )
    config = EmsConfig(
        sites={"wien": site, "linz": other},
        default_site_id="wien",
        api=ApiConfig(port=0, auth_db=str(tmp_path / "auth.db")),
    )
    simulators = [BatterySimulator(simulator_config(s), SystemClock()) for s in config.sites.values()]
    for simulator in simulators:
        await simulator.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    try:
        await daemon.auth.add_user("admin", "admin")
        headers = {"Authorization": f"Bearer {await daemon.auth.create_token('admin')}"}
        url = f"{daemon.url}/api/v1/sites"
        body: dict[str, object] = {}
        async with aiohttp.ClientSession(headers=headers) as session:
            for _ in range(240):  # spawn the worker, fit 20 days (the load ensemble), predict
                async with session.get(f"{url}/wien/forecast") as response:
                    assert response.status == 200
                    body = await response.json()
                if body["forecast"] is not None:
                    break
                await asyncio.sleep(0.25)
            assert body["enabled"] is True and body["last_error"] is None, body
            forecast = body["forecast"]
            assert isinstance(forecast, dict), body
            assert forecast["step_s"] == 900 and len(forecast["load_kw"]) == 192
            assert len(forecast["pv_kw"]) == 192 and forecast["pv_source"] == "clear-sky fallback"
            assert body["last_fit"]["rows"] >= (DAYS - 1) * 96
            assert {"gbm", "persistence"} <= set(forecast["members"])
            # The controllers kept cycling while the worker fitted.
            async with session.get(f"{url}/wien/state") as response:
                assert (await response.json())["status"] != "failed"
            # The typed client reads the same (what the console and Home Assistant use).
            client = PhoenyraClient(
                "127.0.0.1", daemon.port or 0, token=headers["Authorization"][7:], session=session
            )
            typed = await client.forecast("wien")
            assert typed.enabled and typed.forecast is not None and len(typed.forecast.load_kw) == 192
            assert typed.forecast.pv_kw is not None and typed.forecast.step_s == 900
            assert typed.forecast.start > typed.forecast.made_at - timedelta(minutes=15)
            other_site = await client.forecast("linz")
            assert not other_site.enabled and other_site.forecast is None
            async with session.get(f"{url}/linz/forecast") as response:
                assert (await response.json()) == {
                    "site_id": "linz",
                    "enabled": False,
                    "forecast": None,
                    "last_fit": None,
                    "last_error": None,
                }
        assert (tmp_path / "forecast_site_wien.pkl").stat().st_size > 10_000
    finally:
        await daemon.stop()
        for simulator in simulators:
            await simulator.stop()


async def test_stopping_the_daemon_mid_fit_is_prompt(tmp_path: Path) -> None:
    site = make_site(
        free_port(),
        ems=EmsSettings(cycle_s=0.5, history_dir=str(tmp_path)),
        forecast=ForecastConfig(pv_peak_power_kw=120, enabled=True, step_s=900, history_days=30),
    )
    await write_history(database_path(tmp_path, site.site_id), datetime.now(UTC))
    config = EmsConfig(
        sites={"wien": site}, default_site_id="wien", api=ApiConfig(port=0, auth_db=str(tmp_path / "auth.db"))
    )
    simulator = BatterySimulator(simulator_config(site), SystemClock())
    await simulator.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    try:
        pool = None
        for _ in range(200):  # until the worker process exists: it then imports and fits for seconds
            pool = daemon._fit_pool
            if pool is not None and getattr(pool, "_processes", None):
                break
            await asyncio.sleep(0.01)
        assert pool is not None and pool._processes, "the forecast worker never started"
        worker = next(iter(pool._processes.values()))
        started = asyncio.get_running_loop().time()
        await daemon.stop()
        assert asyncio.get_running_loop().time() - started < 5.0
        assert not (tmp_path / "forecast_site_wien.pkl").exists()  # abandoned, redone after a restart
        worker.join(timeout=5)
        assert not worker.is_alive()  # terminated, not left fitting in the background
        assert simulator.model.setpoint_kw == 0.0  # and the battery was left in its safe state
    finally:
        await simulator.stop()
