"""Announce the API on the local network over mDNS/DNS-SD (zeroconf): ``_phoenyra._tcp``.

Home Assistant's ``phoenyra`` integration (and any DNS-SD browser: ``avahi-browse _phoenyra._tcp``)
finds the daemon this way. One service per daemon, named ``Phoenyra EMS <id>`` after the start of
its instance id, with TXT properties ``id`` (the full instance id: Home Assistant's unique id),
``version``, ``path`` (``/api/v1``) and ``tls`` (``1`` with HTTPS).

Where it is announced follows ``api.host``: a specific address is announced on that address, a
wildcard (``0.0.0.0``, ``::``, empty) on every interface, ``localhost`` on loopback. Off with
``api.zeroconf: false``. python-zeroconf is part of the ``server`` extra; without it the daemon
logs a warning and serves anyway. Registration runs in the background (probing takes about a
second) and never delays or fails the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from typing import Any

from phoenyra_ems import __version__

LOG = logging.getLogger(__name__)
SERVICE_TYPE = "_phoenyra._tcp.local."
WILDCARDS = {"", "0.0.0.0", "::", "*"}
STOP_S = 2.0


def service_name(instance_id: str) -> str:
    return f"Phoenyra EMS {instance_id[:8]}.{SERVICE_TYPE}"


def announced_addresses(host: str) -> list[str] | None:
    """The addresses to announce for ``api.host`` (``None``: every interface's)."""
    if host in WILDCARDS:
        return None
    if host == "localhost":
        return ["127.0.0.1"]
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:  # a host name: what it resolves to
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        return sorted({str(info[4][0]) for info in infos})


class Announcer:
    """Registers the service on start, withdraws it (goodbye packets) on stop."""

    def __init__(self, instance_id: str, host: str, port: int, tls: bool) -> None:
        self.instance_id = instance_id
        self.host = host
        self.port = port
        self.tls = tls
        self.registered = False
        self._zeroconf: Any = None
        self._info: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._register(), name="zeroconf announce")

    async def _register(self) -> None:
        try:
            from zeroconf import IPVersion
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
        except ImportError:
            LOG.warning("zeroconf: python-zeroconf is not installed, the daemon is not announced")
            return
        try:
            addresses = announced_addresses(self.host)
            if addresses is None:
                zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
                addresses = _interface_addresses()
            else:
                zeroconf = AsyncZeroconf(interfaces=addresses, ip_version=_ip_version(addresses, IPVersion))
            self._zeroconf = zeroconf
            self._info = AsyncServiceInfo(
                SERVICE_TYPE,
                service_name(self.instance_id),
                port=self.port,
                parsed_addresses=addresses,
                properties={
                    "id": self.instance_id,
                    "version": __version__,
                    "path": "/api/v1",
                    "tls": "1" if self.tls else "0",
                },
                server=f"phoenyra-{self.instance_id[:8]}.local.",
            )
            await zeroconf.async_register_service(self._info, allow_name_change=True)
        except Exception as err:  # no multicast, no such interface …: serve anyway
            LOG.warning("zeroconf: cannot announce the API (%s: %s)", type(err).__name__, err)
            return
        self.registered = True
        LOG.info("zeroconf: announced as %r on %s", self._info.name, ", ".join(addresses) or "-")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._zeroconf is None:
            return
        zeroconf, self._zeroconf = self._zeroconf, None
        try:
            if self.registered:
                await asyncio.wait_for(zeroconf.async_unregister_all_services(), STOP_S)
        except (TimeoutError, Exception) as err:
            LOG.debug("zeroconf: withdrawing the service: %s", err)
        finally:
            self.registered = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(zeroconf.async_close(), STOP_S)


def _ip_version(addresses: list[str], ip_version: Any) -> Any:
    versions = {ipaddress.ip_address(a).version for a in addresses}
    if versions == {4}:
        return ip_version.V4Only
    if versions == {6}:
        return ip_version.V6Only
    return ip_version.All


def _interface_addresses() -> list[str]:
    """Every interface's IPv4 address but loopback's (IPv6 link-local addresses need a scope)."""
    import ifaddr  # a dependency of python-zeroconf

    return [
        ip.ip
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback
    ]
