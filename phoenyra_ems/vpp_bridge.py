"""The daemon's VEN resources mapped onto the fleet's VPP target (docs/vpp.md, "Resources and the fleet").

A VEN resource is a site's ``vpp.site_id`` (default: the site id). A resource shared by one site
is that site; a resource shared by several sites is the fleet's aggregated resource, which the
fleet splits across every VPP-enabled site. Sites sharing one name must therefore be all the
enabled sites: the daemon refuses to start the VEN otherwise (a config error would be better, but
the check needs every site at once; it is logged and the VEN stays off).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.vpp import Flexibility, VppSchedule, VppSiteStatus
from phoenyra_ems.fleet import Fleet
from phoenyra_ems.fleet_vpp import FLEET_RESOURCE

LOG = logging.getLogger(__name__)


def resource_sites(sites: Mapping[str, SiteConfig]) -> dict[str, tuple[str, ...]]:
    """VEN resource name -> the enabled sites behind it."""
    out: dict[str, list[str]] = {}
    for site_id, site in sites.items():
        if site.vpp.enabled:
            out.setdefault(site.vpp.resource(site_id), []).append(site_id)
    return {name: tuple(ids) for name, ids in out.items()}


def mapping_errors(sites: Mapping[str, SiteConfig]) -> list[str]:
    enabled = {i for i, s in sites.items() if s.vpp.enabled}
    shared = {name: ids for name, ids in resource_sites(sites).items() if len(ids) > 1}
    return [
        f"vpp.site_id {name!r} is shared by {', '.join(ids)} but not by every VPP site "
        f"({', '.join(sorted(enabled))}): an aggregated resource is the whole VPP fleet"
        for name, ids in shared.items()
        if set(ids) != enabled
    ]


class FleetTarget:
    """``VppTarget`` (and ``SocSource``) over the fleet, in VEN resource names."""

    def __init__(self, fleet: Fleet, sites: Mapping[str, SiteConfig]) -> None:
        self.fleet = fleet
        self.resources = resource_sites(sites)

    def _fleet_resource(self, resource: str) -> str:
        ids = self.resources.get(resource, (resource,))
        return ids[0] if len(ids) == 1 else FLEET_RESOURCE

    def apply_schedule(self, resource: str, schedule: VppSchedule | None) -> None:
        self.fleet.apply_schedule(self._fleet_resource(resource), schedule)

    def flexibility(self, resource: str, duration_s: float) -> Flexibility:
        return self.fleet.flexibility(self._fleet_resource(resource), duration_s)

    def status(self) -> list[VppSiteStatus]:
        return self.fleet.status()

    def soc_pct(self, resource: str) -> float | None:
        socs = []
        for site_id in self.resources.get(resource, (resource,)):
            controller = self.fleet.controller(site_id)
            if controller is not None:
                socs.append(controller.state.soc)
        return sum(socs) / len(socs) if socs else None
