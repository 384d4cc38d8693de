"""The VEN's reports: actuals sampled per event interval and sent as the events request (docs/vpp.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from phoenyra_ems.core.vpp import VppSchedule
from phoenyra_ems.vpp import events as ev
from phoenyra_ems.vpp.client import VenClient
from phoenyra_ems.vpp.errors import VtnHttpError
from phoenyra_ems.vpp.reports import Sample, build_report, requested
from phoenyra_ems.vpp.target import SocSource, VppTarget

if TYPE_CHECKING:
    from phoenyra_ems.vpp.service import VenSettings

log = logging.getLogger(__name__)
Json = Any


@dataclass
class _Report:
    event: Json
    schedules: dict[str, VppSchedule]
    samples: dict[str, dict[int, Sample]] = field(default_factory=dict)
    report_id: str | None = None
    sent: Json = None


class EventReports:
    """One report per event that asks for one; ``events`` gives the VEN's events at each call."""

    def __init__(
        self, settings: VenSettings, target: VppTarget, events: Callable[[], Mapping[str, Json]]
    ) -> None:
        self.settings = settings
        self.target = target
        self._events = events
        self._reports: dict[str, _Report] = {}
        self._warned: set[str] = set()

    def _sample(self, resource: str, power: dict[str, float]) -> Sample:
        offer = self.target.flexibility(resource, self.settings.offer_duration_s)
        soc = self.target.soc_pct(resource) if isinstance(self.target, SocSource) else None
        return Sample(
            power_kw=power.get(resource),
            soc_pct=soc,
            available_kwh=offer.available_energy_kwh,
            max_discharge_kw=offer.max_discharge_kw,
            max_charge_kw=offer.max_charge_kw,
        )

    def _actual_power(self) -> dict[str, float]:
        by_site = {s.site_id: s.actual_kw for s in self.target.status() if s.actual_kw is not None}
        out: dict[str, float] = {}
        for resource, sites in self.settings.resources.items():
            known = [by_site[s] for s in sites if s in by_site]
            if known:
                out[resource] = sum(known)
        return out

    async def send(self, client: VenClient, now: datetime) -> None:
        """Sample the actuals of each event's current interval, send each report that changed."""
        power = self._actual_power()
        for eid, event in self._events().items():
            kinds, unknown, _ = requested(event)
            if unknown and f"report:{eid}" not in self._warned:
                log.warning("event %s asks for reports we cannot give: %s", eid, ", ".join(unknown))
                self._warned.add(f"report:{eid}")
            if not kinds:
                continue
            entry = self._reports.get(eid)
            resources = ev.addressed(event, self.settings.resources, self.settings.ven_name)
            if entry is None or entry.event is not event:
                schedules = {r: ev.to_schedule(event, r) for r in resources}
                entry = _Report(
                    event, schedules, entry.samples if entry else {}, entry.report_id if entry else None
                )
                self._reports[eid] = entry
            for resource in resources:
                schedule = entry.schedules[resource]
                index = next((i for i, w in enumerate(schedule.intervals) if w.covers(now)), None)
                if index is not None:
                    entry.samples.setdefault(resource, {})[index] = self._sample(resource, power)
            body = build_report(
                event, self.settings.ven_name, entry.schedules, entry.samples, entry.report_id
            )
            if body is None or body == entry.sent:
                continue
            try:
                saved = await client.send_report(body)
            except VtnHttpError as exc:
                if exc.status != 404 or entry.report_id is None:
                    raise
                body.pop("id")  # the VTN lost it (restarted): create it anew
                saved = await client.send_report(body)
            entry.report_id, entry.sent = str(saved["id"]), {**body, "id": str(saved["id"])}
        for eid in set(self._reports) - set(self._events()):
            del self._reports[eid]
