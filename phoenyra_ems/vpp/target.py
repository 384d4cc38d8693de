"""The seam between the VEN (protocol) and the site control (decision logic).

The VEN service talks to the control side only through ``VppTarget``. Calls are cheap and
non-blocking (they hand values over; the control loop applies them on its next cycle).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from phoenyra_ems.core.vpp import Flexibility, VppSchedule, VppSiteStatus


class VppTarget(Protocol):
    """What the control half offers the VEN. ``resource`` is a VEN resource name: a site's
    ``vpp.site_id`` (default the site id) or an aggregated fleet resource."""

    def apply_schedule(self, resource: str, schedule: VppSchedule | None) -> None:
        """Follow ``schedule`` (None: no committed schedule, back to the site's own optimisation)."""

    def flexibility(self, resource: str, duration_s: float) -> Flexibility:
        """What ``resource`` can deliver for ``duration_s`` from now (SoC window, limits, own use)."""

    def status(self) -> list[VppSiteStatus]:
        """Per-site state: committed and actual power, deviation, offered flexibility."""


@runtime_checkable
class SocSource(Protocol):
    """Optional: a target that also tells the SoC (%) of a resource for reports (``STORAGE_CHARGE_LEVEL``)."""

    def soc_pct(self, resource: str) -> float | None: ...
