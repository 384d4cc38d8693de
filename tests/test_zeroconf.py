"""The daemon announces its API over mDNS as ``_phoenyra._tcp``: a browser on loopback sees it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from phoenyra_ems.api.announce import SERVICE_TYPE, announced_addresses
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import ApiConfig
from phoenyra_ems.daemon import Daemon
from tests.daemon_fixtures import two_site_config

zeroconf = pytest.importorskip("zeroconf")


def test_the_announced_addresses_follow_api_host() -> None:
    assert announced_addresses("127.0.0.1") == ["127.0.0.1"]
    assert announced_addresses("localhost") == ["127.0.0.1"]
    assert announced_addresses("[fd00::5]") == ["fd00::5"]
    assert announced_addresses("0.0.0.0") is None  # every interface


async def test_a_browser_on_loopback_finds_the_daemon_and_it_says_goodbye(tmp_path: Path) -> None:
    from zeroconf import IPVersion, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    config = two_site_config(tmp_path)
    config = replace(
        config, sites={"wien": config.sites["wien"]}, api=replace(config.api, host="127.0.0.1", zeroconf=True)
    )
    daemon = Daemon(config, SystemClock())
    browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    events: asyncio.Queue[tuple[str, ServiceStateChange]] = asyncio.Queue()

    def seen(zeroconf: object, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        events.put_nowait((name, state_change))

    browser = AsyncServiceBrowser(browser_zc.zeroconf, [SERVICE_TYPE], handlers=[seen])
    try:
        await daemon.start()
        name, change = await asyncio.wait_for(events.get(), 10)
        assert change is ServiceStateChange.Added
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        assert await info.async_request(browser_zc.zeroconf, 3000)
        assert info.port == daemon.port
        assert info.parsed_addresses() == ["127.0.0.1"]
        assert info.decoded_properties["id"] == daemon.instance_id  # Home Assistant's unique id
        assert info.decoded_properties["path"] == "/api/v1" and info.decoded_properties["tls"] == "0"
        started = time.monotonic()
        await daemon.stop()
        assert time.monotonic() - started < 5
        name, change = await asyncio.wait_for(events.get(), 5)  # the goodbye packet
        assert change is ServiceStateChange.Removed
    finally:
        await daemon.stop()
        await browser.async_cancel()
        await browser_zc.async_close()


async def test_api_zeroconf_false_announces_nothing(tmp_path: Path) -> None:
    config = two_site_config(tmp_path)
    config = replace(config, sites={"wien": config.sites["wien"]})
    daemon = Daemon(config, SystemClock())  # two_site_config has zeroconf: false
    await daemon.start()
    try:
        assert daemon.announcer is None
    finally:
        await daemon.stop()
    assert ApiConfig().zeroconf is True
