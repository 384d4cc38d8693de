"""The fleet as a VPP target: schedules per site or for the aggregated resource, offers, status.

What the VEN (``phoenyra_ems.vpp``) calls, through its target protocol:

* ``apply_schedule(resource, schedule)``: ``resource`` is a site id or :attr:`FleetVpp.resource`
  (all VPP-enabled sites as one aggregated resource); ``None`` withdraws the schedule;
* ``flexibility(resource, duration_s)``: a site's offer, or the sum over the healthy sites;
* ``status()``: every VPP-enabled site's :class:`~phoenyra_ems.core.vpp.VppSiteStatus`.

An aggregated schedule is split per interval across the healthy sites (controller running, not in
its safe state) by ``core/vpp_split.py``; the split is made again whenever a site drops out or
comes back (seen in the fleet's state stream), so the remaining sites take over a failed site's
share for the rest of the event. Capacity limits of an aggregated interval are shared in proportion
to the sites' grid connections (equally where none is configured).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.vpp import Flexibility, VppInterval, VppSchedule, VppSiteStatus
from phoenyra_ems.core.vpp_split import split_setpoint
from phoenyra_ems.models import PlantState, SiteStatus

if TYPE_CHECKING:
    from phoenyra_ems.fleet import Fleet

LOG = logging.getLogger(__name__)

FLEET_RESOURCE = "fleet"


class UnknownResource(KeyError):
    """A VPP resource that is neither a VPP-enabled site nor the aggregated resource."""


def vpp_enabled(config: SiteConfig) -> bool:
    """Whether a site takes part in VPP (its ``vpp.enabled``)."""
    return config.vpp.enabled


class FleetVpp:
    def __init__(self, fleet: Fleet, resource: str = FLEET_RESOURCE) -> None:
        self.fleet = fleet
        self.resource = resource
        self.aggregated: VppSchedule | None = None  # the aggregated resource's schedule
        self.members: frozenset[str] = frozenset()  # the sites its present split uses
        self.split_at: datetime | None = None
        self.rebalances = 0
        # Filled by the VEN (JSON-ready summaries for GET /api/v1/vpp); empty without one.
        self.programs: list[dict[str, object]] = []
        self.events: list[dict[str, object]] = []

    # --- queries -----------------------------------------------------------------------------
    def site_ids(self) -> list[str]:
        return [i for i, slot in self.fleet.slots.items() if vpp_enabled(slot.config)]

    def healthy(self) -> frozenset[str]:
        out = set()
        for site_id in self.site_ids():
            controller = self.fleet.controller(site_id)
            if controller is not None and controller.state.status is SiteStatus.RUNNING:
                out.add(site_id)
        return frozenset(out)

    def _check(self, resource: str) -> None:
        if resource != self.resource and resource not in self.site_ids():
            raise UnknownResource(
                f"unknown VPP resource {resource!r} (a VPP-enabled site or {self.resource!r})"
            )

    # --- the target protocol -------------------------------------------------------------------
    def apply_schedule(self, resource: str, schedule: VppSchedule | None) -> None:
        self._check(resource)
        if resource != self.resource:
            controller = self.fleet.controller(resource)
            if controller is not None:
                controller.apply_vpp(schedule)
            return
        self.aggregated = schedule if schedule is not None and schedule.intervals else None
        self._split(self.healthy())

    def flexibility(self, resource: str, duration_s: float) -> Flexibility:
        self._check(resource)
        if resource != self.resource:
            controller = self.fleet.controller(resource)
            if controller is None:
                return Flexibility(resource, 0.0, 0.0, duration_s, 0.0, 0.0)
            return controller.vpp_flexibility(duration_s)
        offers = [self._offer(i, duration_s) for i in sorted(self.healthy())]
        return Flexibility(
            self.resource,
            math.fsum(o.max_discharge_kw for o in offers),
            math.fsum(o.max_charge_kw for o in offers),
            duration_s,
            math.fsum(o.available_energy_kwh for o in offers),
            math.fsum(o.headroom_energy_kwh for o in offers),
        )

    def status(self) -> list[VppSiteStatus]:
        out = []
        for site_id in self.site_ids():
            slot = self.fleet.slots[site_id]
            vpp = slot.state.vpp
            out.append(vpp if vpp is not None else VppSiteStatus(site_id))
        return out

    # --- the aggregated resource's split -------------------------------------------------------
    def on_state(self, state: PlantState) -> None:
        """Fleet state listener: split again when the healthy set changes during an event."""
        if self.aggregated is None:
            return
        now = state.timestamp
        end = self.aggregated.end
        if end is not None and now >= end:
            self.aggregated, self.members = None, frozenset()
            return
        healthy = self.healthy()
        if healthy != self.members:
            gone, back = sorted(self.members - healthy), sorted(healthy - self.members)
            LOG.info("VPP %s: rebalancing (dropped %s, joined %s)", self.resource, gone, back)
            self.rebalances += 1
            self._split(healthy)

    def _offer(self, site_id: str, duration_s: float) -> Flexibility:
        controller = self.fleet.controller(site_id)
        if controller is None:
            return Flexibility(site_id, 0.0, 0.0, duration_s, 0.0, 0.0)
        return controller.vpp_flexibility(duration_s)

    def _split(self, members: frozenset[str]) -> None:
        schedule = self.aggregated
        now = self.fleet.clock.now()
        for site_id in self.members - members:  # dropped out: its share goes to the others
            controller = self.fleet.controller(site_id)
            if controller is not None and _from(controller.vpp.schedule, self.resource):
                controller.apply_vpp(None)
        self.members, self.split_at = members, now
        if schedule is None:
            for site_id in self.site_ids():
                controller = self.fleet.controller(site_id)
                if controller is not None and _from(controller.vpp.schedule, self.resource):
                    controller.apply_vpp(None)
            return
        ids = sorted(members)
        per_site: dict[str, list[VppInterval]] = {i: [] for i in ids}
        connections = {i: self.fleet.slots[i].config.grid_connection.max_power_kw for i in ids}
        for interval in schedule.intervals:
            if interval.end <= now:
                continue
            duration = (interval.end - max(now, interval.start)).total_seconds()
            shares: dict[str, float] = {}
            if interval.setpoint_kw is not None:
                offers = [self._offer(i, duration) for i in ids]
                shares = split_setpoint(interval.setpoint_kw, offers).shares
            for site_id in ids:
                per_site[site_id].append(
                    replace(
                        interval,
                        setpoint_kw=shares.get(site_id) if interval.setpoint_kw is not None else None,
                        import_limit_kw=_share(interval.import_limit_kw, site_id, connections),
                        export_limit_kw=_share(interval.export_limit_kw, site_id, connections),
                    )
                )
        for site_id in ids:
            controller = self.fleet.controller(site_id)
            if controller is not None:
                controller.apply_vpp(
                    replace(schedule, intervals=tuple(per_site[site_id]), resource=self.resource)
                )


def _from(schedule: VppSchedule | None, resource: str) -> bool:
    return schedule is not None and schedule.resource == resource


def _share(limit: float | None, site_id: str, connections: dict[str, float | None]) -> float | None:
    """A site's part of an aggregated capacity limit: by grid connection size, else equal."""
    if limit is None:
        return None
    sizes = [c for c in connections.values() if c is not None and c > 0]
    if len(sizes) == len(connections) and sizes:
        size = connections[site_id]
        assert size is not None
        return limit * size / math.fsum(sizes)
    return limit / max(1, len(connections))
