"""The daemon's VEN connections from the sites' ``vpp:`` blocks (one VEN per VTN and client id)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.vpp.rest import RestAggregatorService, RestSettings
from phoenyra_ems.vpp.service import VenService, VenSettings, ssl_setting
from phoenyra_ems.vpp.target import VppTarget
from phoenyra_ems.vpp.webhook import WebhookRegistry

_LOG = logging.getLogger(__name__)


def _poll_interval_s(members: list[SiteConfig], push: bool) -> float:
    """The shortest of the members' effective poll intervals; without push, a warning when an event
    could wait longer for the next poll than the members' response time allows."""
    interval = min(site.vpp.effective_poll_interval_s for site in members)
    response_s = min(site.vpp.flexibility.response_time_s for site in members)
    if not push and interval > response_s:
        _LOG.warning(
            "vpp: polling only (no webhook_url) every %g s, but sites %s promise a response within "
            "%g s: an event found by polling can be followed late; set webhook_url or a shorter "
            "poll_interval_s",
            interval,
            ", ".join(site.site_id for site in members),
            response_s,
        )
    return interval


def ven_settings(sites: Mapping[str, SiteConfig]) -> list[VenSettings]:
    """Group the enabled openadr3 sites by (vtn_url, client_id): each group is one VEN whose
    resources are the sites' ``vpp.site_id`` (sites sharing one form an aggregated resource)."""
    groups: dict[tuple[str, str], list[SiteConfig]] = {}
    for site in sites.values():
        vpp = site.vpp
        if vpp.enabled and vpp.protocol == "openadr3" and vpp.vtn_url and vpp.client_id:
            groups.setdefault((vpp.vtn_url, vpp.client_id), []).append(site)
    out = []
    for (url, client_id), members in groups.items():
        first = members[0].vpp
        resources: dict[str, tuple[str, ...]] = {}
        for site in members:
            name = site.vpp.resource(site.site_id)
            resources[name] = (*resources.get(name, ()), site.site_id)
        out.append(
            VenSettings(
                vtn_url=url,
                client_id=client_id,
                client_secret=first.client_secret or "",
                resources=resources,
                ven_name=first.ven_name,
                token_url=first.token_url,
                programs=first.programs,
                poll_interval_s=_poll_interval_s(members, push=first.webhook_url is not None),
                webhook_url=first.webhook_url,
                verify_tls=first.verify_tls,
                ca_file=first.ca_file,
                request_timeout_s=first.request_timeout_s,
                response_time_s=min(s.vpp.flexibility.response_time_s for s in members),
            )
        )
    return out


def start_vens(
    sites: Mapping[str, SiteConfig],
    target: VppTarget,
    webhooks: WebhookRegistry | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[tuple[VenService | RestAggregatorService, asyncio.Task[None]]]:
    """Start one VEN (or plain-REST client) task per connection (the daemon passes
    ``webhooks = app[WEBHOOKS]`` and its clock's ``now``, so the VEN reads events on the clock the
    sites' control runs on); cancel the tasks to stop them."""
    started: list[tuple[VenService | RestAggregatorService, asyncio.Task[None]]] = []
    for settings in ven_settings(sites):
        service = VenService(settings, target, webhooks=webhooks, now=now)
        started.append((service, asyncio.create_task(service.run(), name=f"ven-{settings.client_id}")))
    for rest in rest_settings(sites):
        client = RestAggregatorService(rest, target, now=now)
        started.append((client, asyncio.create_task(client.run(), name="vpp-rest")))
    return started


def rest_settings(sites: Mapping[str, SiteConfig]) -> list[RestSettings]:
    """The enabled ``protocol: custom`` sites, one connection per (api_url, api_key)."""
    groups: dict[tuple[str, str], list[SiteConfig]] = {}
    for site in sites.values():
        vpp = site.vpp
        if vpp.enabled and vpp.protocol == "custom" and vpp.api_url and vpp.api_key:
            groups.setdefault((vpp.api_url, vpp.api_key), []).append(site)
    out = []
    for (url, key), members in groups.items():
        resources: dict[str, tuple[str, ...]] = {}
        for site in members:
            name = site.vpp.resource(site.site_id)
            resources[name] = (*resources.get(name, ()), site.site_id)
        first = members[0].vpp
        out.append(
            RestSettings(
                api_url=url,
                api_key=key,
                resources=resources,
                poll_interval_s=_poll_interval_s(members, push=False),
                request_timeout_s=first.request_timeout_s,
                response_time_s=min(s.vpp.flexibility.response_time_s for s in members),
                ssl=ssl_setting(first.verify_tls, first.ca_file),
            )
        )
    return out
