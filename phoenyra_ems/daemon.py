"""The daemon: owns the devices (fleet of site controllers) and serves the API to many viewers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import ssl
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from phoenyra_ems.api.announce import Announcer
from phoenyra_ems.api.app import create_app
from phoenyra_ems.api.server import LimitedSite
from phoenyra_ems.auth.store import AuthStore
from phoenyra_ems.clock import Clock
from phoenyra_ems.config import ConfigError, load_config_async
from phoenyra_ems.config.model import EmsConfig, SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.fleet import ControllerFactory, Fleet
from phoenyra_ems.mqtt.site_link import SiteMqttLink
from phoenyra_ems.runtime import build_controller
from phoenyra_ems.sensor_service import SensorService
from phoenyra_ems.site_ports import Attachment
from phoenyra_ems.tasks import cancel_and_wait

LOG = logging.getLogger(__name__)
SITE_START_WAIT_S = 10.0
API_STOP_S = 3.0


def instance_id(auth_db: str | Path) -> str:
    """A stable id of this installation (Home Assistant's unique id), kept beside the auth DB."""
    path = Path(auth_db).with_name("instance_id")
    if path.exists():
        path.chmod(0o600)
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = uuid.uuid4().hex
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value


class Daemon:
    def __init__(
        self,
        config: EmsConfig,
        clock: Clock,
        config_path: str | None = None,
        factory: ControllerFactory | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.clock = clock
        self.auth = AuthStore(config.api.auth_db)
        wanted = config.sensors.enabled or bool(config.sensors.sensors)  # Modbus ones need no broker
        self.sensors = SensorService(config.sensors, config.sites) if wanted else None
        self.fleet = Fleet(config, clock, factory or self._build_controller)
        self.instance_id = instance_id(config.api.auth_db)
        self._runner: web.AppRunner | None = None
        self._fit_pool: ProcessPoolExecutor | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port: int | None = None
        self.announcer: Announcer | None = None
        self._community_task: asyncio.Task[None] | None = None
        self._vpp_tasks: list[asyncio.Task[None]] = []  # the VEN connections (docs/vpp.md)

    @property
    def url(self) -> str:
        scheme = "https" if self.config.api.tls_cert else "http"
        return f"{scheme}://{self.config.api.host}:{self.port}"

    def _build_controller(self, site: SiteConfig) -> SiteController:
        """A site's controller with what the daemon adds: edge-sensor inputs and its MQTT link."""
        controller = build_controller(site, self.clock)
        if self.sensors is not None:
            controller.sensor_inputs = partial(self.sensors.inputs, site.site_id)
        if site.mqtt.enabled:
            controller.attachments.append(SiteMqttLink(site, instance_id=self.instance_id))
        if site.forecast.enabled:
            controller.attachments.append(self._forecaster(site))
        if site.strategy.uses_ai or site.strategy.selection_mode == "fixed":
            controller.attachments.append(self._selector(site))
        return controller

    def _selector(self, site: SiteConfig) -> Attachment:
        """AI strategy selection, trained in the forecasts' worker process (docs/ai-selection.md)."""
        from phoenyra_ems.selector.service import SiteSelector

        if self._fit_pool is None:
            self._fit_pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return SiteSelector(site, self._fit_pool)

    def _forecaster(self, site: SiteConfig) -> Attachment:
        """Forecasts fitted in one worker process shared by all sites (imported only when enabled)."""
        from phoenyra_ems.forecast.service import SiteForecaster

        if self._fit_pool is None:
            self._fit_pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return SiteForecaster(
            site, self._fit_pool, self._weather_client(site), renew_executor=self._renew_pool
        )

    def _renew_pool(self, broken: Executor) -> Executor:
        """A fresh worker pool after the worker died; the first site to notice replaces it for all."""
        if self._fit_pool is broken or self._fit_pool is None:
            if self._fit_pool is not None:
                _stop_pool(self._fit_pool)
            self._fit_pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            LOG.warning("forecast worker died: started a new one")
        return self._fit_pool

    def _weather_client(self, site: SiteConfig) -> Any:
        source = site.forecast.weather_source
        if source == "none":
            return None
        from phoenyra_ems.forecast.weather import OpenMeteoClient, OpenWeatherMapClient

        if self._http is None:
            self._http = aiohttp.ClientSession()
        if source == "open-meteo":
            return OpenMeteoClient(self._http)
        return OpenWeatherMapClient(self._http, site.forecast.openweathermap_api_key or "")

    async def start(self) -> None:
        await self.auth.open()
        if self.sensors is not None:
            await self.sensors.start()
        await self.fleet.start(wait_s=SITE_START_WAIT_S)  # serve once every site has a controller
        app = create_app(
            self.fleet,
            self.auth,
            self.instance_id,
            self.config.api.ws_max_rate_hz,
            reload=self.reload if self.config_path else None,
            sensors=self.sensors.registry if self.sensors is not None else None,
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        context = None
        if self.config.api.tls_cert and self.config.api.tls_key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.config.api.tls_cert, self.config.api.tls_key)
        site = LimitedSite(
            self._runner,
            self.config.api.host,
            self.config.api.port,
            ssl_context=context,
            max_connections=self.config.api.max_connections,
            header_timeout_s=self.config.api.header_timeout_s,
        )
        await site.start()
        addresses = self._runner.addresses  # the bound port, also when configured as 0
        self.port = int(addresses[0][1]) if addresses else self.config.api.port
        LOG.info("API listening on %s/api/v1 (%d sites)", self.url, len(self.fleet.slots))
        self._start_community_recorder()
        self._start_vens(app)
        if self.config.api.zeroconf:
            api = self.config.api
            self.announcer = Announcer(self.instance_id, api.host, self.port, bool(api.tls_cert))
            self.announcer.start()

    def _start_community_recorder(self) -> None:
        """Record the community's ended quarter-hours live (docs/community.md); a no-op without one."""
        from phoenyra_ems.community.recorder import CommunityRecorder

        recorder = CommunityRecorder(lambda: self.config, self.clock, on_values=self._community_values)
        self._community_task = asyncio.create_task(recorder.run(), name="community-recorder")

    def _start_vens(self, app: web.Application) -> None:
        """One OpenADR 3 VEN (or plain-REST client) per VTN connection of the sites' ``vpp:`` blocks."""
        from phoenyra_ems.vpp.runtime import start_vens
        from phoenyra_ems.vpp.webhook import WEBHOOKS
        from phoenyra_ems.vpp_bridge import FleetTarget, mapping_errors

        errors = mapping_errors(self.config.sites)
        for error in errors:
            LOG.error("VPP off: %s", error)
        if errors:
            return
        target = FleetTarget(self.fleet, self.config.sites)
        self._vpp_tasks = [
            task for _, task in start_vens(self.config.sites, target, app[WEBHOOKS], self.clock.now)
        ]

    def _community_values(self, values: dict[str, Any]) -> None:
        """Hand each member site's community export terms to its optimiser (docs/community.md)."""
        for site_id in self.fleet.site_ids():
            controller = self.fleet.controller(site_id)
            if controller is not None and controller.plan_history is not None:
                controller.plan_history.community = values.get(site_id)

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file and apply it; a bad file changes nothing and says why.

        The file is parsed in a worker thread: control cycles go on meanwhile. Sections that only
        take effect at start (``api``) are reported in ``restart_required``, not applied.
        """
        if self.config_path is None:
            return {"reloaded": False, "errors": ["no configuration file"]}
        try:
            config = await load_config_async(self.config_path)
        except (ConfigError, OSError) as err:
            issues = [str(i) for i in err.issues] if isinstance(err, ConfigError) else [str(err)]
            for issue in issues:
                LOG.error("reload rejected: %s", issue)
            return {"reloaded": False, "errors": issues}
        for site_id in set(self.fleet.config.sites) - set(config.sites):  # removed: delete their
            controller = self.fleet.controller(site_id)  # Home Assistant discovery configs on stop
            for link in controller.attachments if controller is not None else ():
                if isinstance(link, SiteMqttLink):
                    link.retract = True
        result = await self.fleet.apply_config(config)
        if self.sensors is not None:
            self.sensors.apply(config.sensors, config.sites)
        restart_required = ["api"] if config.api != self.config.api else []
        if restart_required:
            LOG.warning("reload: the api section changed; it takes effect after a restart")
        self.config = replace(config, api=self.config.api)  # what runs is what the config says
        return {
            "reloaded": True,
            "added": list(result.added),
            "removed": list(result.removed),
            "reloaded_sites": list(result.reloaded_sites),
            "unchanged": list(result.unchanged),
            "kept_controls": list(result.kept_controls),
            "reset_controls": dict(result.reset_controls),
            "restart_required": restart_required,
        }

    async def stop(self) -> None:
        """Stop serving, then put every battery in its safe state (bounded: each site's stop is)."""
        for task in self._vpp_tasks:
            task.cancel()
        await asyncio.gather(*self._vpp_tasks, return_exceptions=True)
        self._vpp_tasks = []
        if self._community_task is not None:
            await cancel_and_wait(self._community_task, "community recorder")
            self._community_task = None
        if self.announcer is not None:
            await self.announcer.stop()
            self.announcer = None
        if self._runner is not None:
            try:
                await asyncio.wait_for(self._runner.cleanup(), API_STOP_S)
            except TimeoutError:
                LOG.error("API did not stop within %.0f s", API_STOP_S)
            self._runner = None
        await self.fleet.stop()
        if self.sensors is not None:
            await self.sensors.stop()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._fit_pool is not None:
            _stop_pool(self._fit_pool)
            self._fit_pool = None
        await self.auth.close()


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop the forecast worker now: a fit in progress is abandoned (it is redone after a restart)."""
    workers = list(getattr(pool, "_processes", {}).values())  # 3.14 has terminate_workers()
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()


async def run_daemon(config: EmsConfig, clock: Clock, config_path: str | None) -> None:
    """Run until cancelled; SIGHUP reloads the configuration."""
    daemon = Daemon(config, clock, config_path)
    try:
        await daemon.start()
    except BaseException:  # e.g. the API address in use: stop the sites already started, then say so
        await daemon.stop()
        raise
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(daemon.reload()))
    try:
        await asyncio.Event().wait()
    finally:
        LOG.info("shutting down: every battery to its safe state")
        await daemon.stop()
