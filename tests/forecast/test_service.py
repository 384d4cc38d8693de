"""The daemon's per-site forecasts: retraining from the site's own history, off the event loop."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import BessConfig, EmsSettings, ForecastConfig, Location, SiteConfig
from phoenyra_ems.forecast.datasets import konstanz_load, konstanz_pv
from phoenyra_ems.forecast.service import SiteForecaster, history_frame, model_path
from phoenyra_ems.history.store import HistoryRecord, HistoryStore

NOW = datetime(2016, 7, 1, tzinfo=UTC)


class FixedClock(SystemClock):
    """Wall-clock sleeps, but "now" is the end of the recorded history."""

    def now(self) -> datetime:
        return NOW


class Host:
    """What the forecaster uses of its controller: the clock and the history store."""

    def __init__(self, history: HistoryStore) -> None:
        self.clock = FixedClock()
        self.history = history


def site(tmp_path: Path) -> SiteConfig:
    return SiteConfig(
        site_id="konstanz",
        name="Konstanz",
        bess=BessConfig(10, 5, 5),
        location=Location(city="Konstanz", latitude=47.66, longitude=9.18, timezone="Europe/Berlin"),
        forecast=ForecastConfig(pv_peak_power_kw=10.0, enabled=True, step_s=3600, history_days=45),
        ems=EmsSettings(history_dir=str(tmp_path)),
    )


async def filled_store(tmp_path: Path, days: int) -> HistoryStore:
    """The real house's hourly load and PV as the site's history (one sample per 15 min)."""
    store = HistoryStore(tmp_path / "history.db", retention=timedelta(days=3650), batch_size=5000)
    await store.open()
    load = konstanz_load()["y"]
    pv = konstanz_pv()
    start = NOW - timedelta(days=days)
    for k in range(days * 96):
        when = start + timedelta(minutes=15 * k)
        hour = when.replace(minute=0)
        p_load = float(load.get(hour, np.nan))
        p_pv = float(pv.get(hour, np.nan))
        if np.isnan(p_load) or np.isnan(p_pv):
            continue
        record = HistoryRecord(
            when.timestamp(), 50, 100, 25, 0, p_pv, p_load, p_load - p_pv, 80, 0, None, "auto", "ok"
        )
        await store.append(record)
    await store.flush()
    return store


@pytest.fixture
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    history = await filled_store(tmp_path, 40)
    yield history
    await history.close()


async def test_retrain_runs_in_a_worker_and_the_loop_keeps_ticking(
    tmp_path: Path, pool: ProcessPoolExecutor, store: HistoryStore
) -> None:
    forecaster = SiteForecaster(site(tmp_path), pool)
    forecaster._controller = Host(store)  # type: ignore[assignment]
    gaps: list[float] = []
    running = True

    async def control_cycle() -> None:  # stands in for a 20 ms control loop
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(control_cycle())
    started = time.perf_counter()
    summary = await forecaster.retrain()
    fit_wall = time.perf_counter() - started
    running = False
    await ticker
    assert summary.rows >= 39 * 24
    assert summary.fit_s > 0.3  # a real fit (ensemble incl. gradient boosting), so a blocked loop would show
    # a fit on the loop would stall it for the whole fit (fit_s); a busy machine alone stalls it for
    # a few tenths of a second (0.34 s seen at load 10 on 2 cores)
    allowed = max(0.25, summary.fit_s / 3)
    assert max(gaps) < allowed, f"the loop stalled {max(gaps):.2f} s during a {fit_wall:.1f} s retraining"
    assert model_path(tmp_path, "konstanz").stat().st_size > 10_000
    # Gradient boosting needs 14 days: with 40 it is a member, with weights learned. Prophet is
    # not a default member (it lost on every data set measured, docs/forecasting.md).
    assert {"gbm", "persistence"} <= set(summary.load_weights) and "prophet" not in summary.load_weights

    forecast = await forecaster.predict()
    assert len(forecast.load_kw) == 48 and all(v >= 0 for v in forecast.load_kw)
    assert forecast.pv_kw is not None and len(forecast.pv_kw) == 48
    assert forecast.pv_source == "clear-sky fallback"  # no weather service configured
    assert max(forecast.pv_kw) > 1.0 and min(forecast.pv_kw) == 0.0  # a July day and its night
    assert forecast.predict_ms < 1000


async def test_a_restart_predicts_from_the_stored_models(
    tmp_path: Path, pool: ProcessPoolExecutor, store: HistoryStore
) -> None:
    first = SiteForecaster(site(tmp_path), pool)
    first._controller = Host(store)  # type: ignore[assignment]
    await first.retrain()

    second = SiteForecaster(site(tmp_path), pool)
    await second.start(Host(store))  # type: ignore[arg-type]
    try:
        assert second.models is not None
        assert not second._due(NOW)  # fitted "now": no retraining after a restart
        assert second._due(NOW + timedelta(hours=25))  # but a day later
        forecast = await second.predict()
        assert len(forecast.load_kw) == 48
    finally:
        await second.stop()


async def test_too_little_history_keeps_the_baselines_with_a_warning(
    tmp_path: Path, pool: ProcessPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    history = await filled_store(tmp_path, 4)
    try:
        forecaster = SiteForecaster(replace(site(tmp_path), site_id="young"), pool)
        forecaster._controller = Host(history)  # type: ignore[assignment]
        summary = await forecaster.retrain()
        assert "gbm" not in summary.load_weights and "prophet" not in summary.load_weights
        assert "persistence" in summary.load_weights
        forecast = await forecaster.predict()
        assert len(forecast.load_kw) == 48 and np.isfinite(forecast.load_kw).all()
    finally:
        await history.close()


async def test_a_corrupt_model_file_means_retraining_not_a_crash(
    tmp_path: Path, pool: ProcessPoolExecutor, store: HistoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    model_path(tmp_path, "konstanz").write_bytes(b"not a pickle")
    forecaster = SiteForecaster(site(tmp_path), pool)
    with caplog.at_level(logging.WARNING):
        await forecaster.start(Host(store))  # type: ignore[arg-type]
    try:
        assert forecaster.models is None and forecaster._due(NOW)
        assert any("cannot load" in r.getMessage() for r in caplog.records)
    finally:
        await forecaster.stop()


def test_history_frame_puts_the_samples_on_a_regular_grid() -> None:
    base = NOW.timestamp()
    records = [
        HistoryRecord(base + s, 50, 100, 25, 0, pv, load, 0, None, 0, None, "auto", "ok")
        for s, load, pv in [(0, 1.0, 0.0), (900, 3.0, 1.0), (3 * 3600, 2.0, 0.5)]
    ]
    frame = history_frame(records, 3600)
    assert list(frame.index.hour) == [0, 1, 2, 3]
    assert frame["p_load"].iloc[0] == pytest.approx(2.0)  # two samples in the first hour
    assert np.isnan(frame["p_load"].iloc[1]) and np.isnan(frame["p_load"].iloc[2])
    assert frame["p_pv"].iloc[3] == pytest.approx(0.5)


def open_meteo_payload(start: datetime, hours: int, ghi: float) -> dict[str, object]:
    """An Open-Meteo answer (the recorded shape, tests/forecast/recorded) for ``hours`` from ``start``."""
    times = [(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M") for h in range(hours)]
    return {
        "utc_offset_seconds": 0,
        "hourly": {
            "time": times,
            "shortwave_radiation": [ghi] * hours,
            "cloud_cover": [100.0] * hours,
            "temperature_2m": [18.0] * hours,
        },
    }


@pytest.fixture
async def weather_server() -> AsyncIterator[dict[str, object]]:
    """A local Open-Meteo stand-in whose next answer the test sets: ``reply["status"|"body"]``."""
    from aiohttp import web

    reply: dict[str, object] = {"status": 200, "body": b"{}"}

    async def forecast(request: web.Request) -> web.Response:
        return web.Response(status=int(reply["status"]), body=reply["body"], content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/forecast", forecast)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    reply["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield reply
    await runner.cleanup()


async def test_pv_follows_the_weather_service_and_falls_back_when_it_fails(
    tmp_path: Path,
    pool: ProcessPoolExecutor,
    store: HistoryStore,
    weather_server: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import json

    import aiohttp

    from phoenyra_ems.forecast.weather import OpenMeteoClient

    async with aiohttp.ClientSession() as session:
        client = OpenMeteoClient(
            session, base_url=str(weather_server["url"]), timeout_s=1.0, cache_ttl_s=0.0, clock=lambda: NOW
        )
        forecaster = SiteForecaster(site(tmp_path), pool, weather=client)
        forecaster._controller = Host(store)  # type: ignore[assignment]
        await forecaster.retrain()

        # A dark, overcast forecast (GHI 0 all day): the PV forecast follows it, not the clear sky.
        weather_server["body"] = json.dumps(open_meteo_payload(NOW, 72, 0.0)).encode()
        dark = await forecaster.predict()
        assert dark.pv_source == "weather" and dark.pv_kw is not None and max(dark.pv_kw) < 0.05

        for status, body in ((500, b"upstream down"), (200, b"<html>not json</html>")):
            weather_server["status"], weather_server["body"] = status, body
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                fallback = await forecaster.predict()
            assert fallback.pv_source == "clear-sky fallback" and fallback.pv_kw is not None
            assert max(fallback.pv_kw) > 1.0  # July: clear sky x the ratio seen in the last days
            assert any("open-meteo" in r.getMessage() for r in caplog.records), caplog.text


async def test_history_buckets_are_steps_of_the_clock_not_of_the_query(
    tmp_path: Path, pool: ProcessPoolExecutor
) -> None:
    """4 kW from 10:00 to 11:00, asked at 11:50: the 10:00 hour holds 4 kW, nothing leaks into 09:00."""
    store = HistoryStore(tmp_path / "aligned.db", retention=timedelta(days=3650))
    await store.open()
    ten = NOW.replace(hour=10)
    for minute in range(60):
        when = ten + timedelta(minutes=minute)
        await store.append(
            HistoryRecord(when.timestamp(), 50, 100, 25, 0, 0.0, 4.0, 4.0, 80, 0, None, "auto", "ok")
        )
    await store.flush()
    host = Host(store)
    host.clock.now = lambda: ten + timedelta(minutes=110)  # type: ignore[method-assign]
    forecaster = SiteForecaster(site(tmp_path), pool)
    forecaster._controller = host  # type: ignore[assignment]
    try:
        frame = await forecaster._history(timedelta(days=1))
    finally:
        await store.close()
    assert frame.index[-1] == ten  # the hour still running (11:00) is not a whole step yet
    assert frame["p_load"].iloc[-1] == pytest.approx(4.0)
    assert frame["p_load"].dropna().tolist() == [pytest.approx(4.0)]


def _die() -> None:
    import os

    os._exit(1)


async def test_a_dead_worker_is_replaced_and_the_next_fit_succeeds(
    tmp_path: Path, store: HistoryStore
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from phoenyra_ems.forecast.base import ForecastError

    spawn = multiprocessing.get_context("spawn")
    broken = ProcessPoolExecutor(max_workers=1, mp_context=spawn)
    with pytest.raises(BrokenProcessPool):
        broken.submit(_die).result(timeout=60)
    fresh = ProcessPoolExecutor(max_workers=1, mp_context=spawn)
    renewed: list[object] = []

    def renew(old: object) -> ProcessPoolExecutor:
        renewed.append(old)
        return fresh

    try:
        forecaster = SiteForecaster(site(tmp_path), broken, renew_executor=renew)  # type: ignore[arg-type]
        forecaster._controller = Host(store)  # type: ignore[assignment]
        with pytest.raises(ForecastError, match="worker died"):
            await forecaster.retrain()
        assert renewed == [broken] and forecaster.executor is fresh
        summary = await forecaster.retrain()
        assert summary.rows > 0 and forecaster.models is not None
    finally:
        broken.shutdown(wait=True)
        fresh.shutdown(wait=True)
