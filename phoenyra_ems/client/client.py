"""The async client of the daemon's REST and WebSocket API (aiohttp only; see docs/api.md).

:class:`PhoenyraClient` = the REST routes (here) on the WebSocket (:mod:`.stream`) on the HTTP
transport (:mod:`.transport`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from phoenyra_ems.client.community import (
    CommunityAllocations,
    CommunityLedger,
    CommunitySettlement,
    CommunityState,
)
from phoenyra_ems.client.exceptions import PhoenyraInvalidResponseError
from phoenyra_ems.client.forecast import SiteForecast
from phoenyra_ems.client.models import (
    AggregatedState,
    Alarm,
    ControlAck,
    History,
    Info,
    Limits,
    Mode,
    ReloadResult,
    Sensor,
    Site,
    SiteDetail,
    SiteState,
)
from phoenyra_ems.client.plan import SitePlan
from phoenyra_ems.client.selector import SelectorStatus
from phoenyra_ems.client.stream import EventStream
from phoenyra_ems.client.vpp import VppOverview

__all__ = ["UNSET", "PhoenyraClient"]


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Default of ``set_limits`` arguments: the field is not sent (``None`` is sent as ``null``)."""


def _time_param(name: str, value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    # UTC with "Z": no "+" in the query string (older yarl versions do not escape it)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class PhoenyraClient(EventStream):
    """Talks to one Phoenyra EMS daemon.

    ``session``: an ``aiohttp.ClientSession`` to use (Home Assistant passes its shared one); it is
    never closed by this client. Without one, the client creates its own on first use and closes
    it in :meth:`close` (or at the end of ``async with``).

    Every request runs under ``asyncio.timeout(request_timeout)``. Connection errors are retried
    ``retries`` times with exponential backoff (``retry_backoff_s``, doubling, at most
    ``retry_backoff_max_s``): every method when the connection could not be opened (nothing was
    sent), and GET requests also when the connection broke later. A POST or PUT that may have
    reached the daemon is never repeated; a timeout or an HTTP error status is never retried.
    """

    # --- REST --------------------------------------------------------------------------------------
    async def info(self) -> Info:
        """Instance id, version, and who the token belongs to (any role)."""
        return Info.from_dict(await self._request("GET", "info"))

    async def sites(self) -> list[Site]:
        """The sites this user may see."""
        data = await self._request("GET", "sites")
        if not isinstance(data, dict) or not isinstance(data.get("sites"), list):
            raise PhoenyraInvalidResponseError("invalid response: sites: expected a list")
        return [Site.from_dict(s, f"sites[{i}]") for i, s in enumerate(data["sites"])]

    async def site(self, site_id: str) -> SiteDetail:
        """One site with its state and, when its controller runs, its control and limits."""
        return SiteDetail.from_dict(await self._request("GET", "sites", site_id))

    async def state(self, site_id: str) -> SiteState:
        return SiteState.from_dict(await self._request("GET", "sites", site_id, "state"))

    async def alarms(self, site_id: str) -> list[Alarm]:
        data = await self._request("GET", "sites", site_id, "alarms")
        if not isinstance(data, dict) or not isinstance(data.get("alarms"), list):
            raise PhoenyraInvalidResponseError("invalid response: alarms: expected a list")
        return [Alarm.from_dict(a, f"alarms[{i}]") for i, a in enumerate(data["alarms"])]

    async def sensors(self, site_id: str | None = None) -> list[Sensor]:
        """A site's edge sensors, or (without a site) every sensor the user may see."""
        data = await (
            self._request("GET", "sites", site_id, "sensors") if site_id else self._request("GET", "sensors")
        )
        if not isinstance(data, dict) or not isinstance(data.get("sensors"), list):
            raise PhoenyraInvalidResponseError("invalid response: sensors: expected a list")
        return [Sensor.from_dict(item, f"sensors[{i}]") for i, item in enumerate(data["sensors"])]

    async def forecast(self, site_id: str) -> SiteForecast:
        """The site's latest load and PV forecast (``forecast`` is None until the first fit)."""
        return SiteForecast.from_dict(await self._request("GET", "sites", site_id, "forecast"))

    async def plan(self, site_id: str) -> SitePlan:
        """The site's current plan (``plan`` is None before the first one; ``enabled`` is False when
        ``optimiser`` is not among the site's strategies)."""
        return SitePlan.from_dict(await self._request("GET", "sites", site_id, "plan"))

    async def selector(self, site_id: str) -> SelectorStatus:
        """Who chooses the site's strategy (score / AI with confidence / pinned), the model, the A/B tally."""
        return SelectorStatus.from_dict(await self._request("GET", "sites", site_id, "selector"))

    async def history(
        self,
        site_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        step_s: float | None = None,
    ) -> History:
        """Samples in ``[start, end)`` (default: the last hour), averaged into ``step_s`` buckets if
        given (the daemon picks a step itself for spans over a day). Datetimes must be aware."""
        params: dict[str, str] = {}
        if start is not None:
            params["from"] = _time_param("start", start)
        if end is not None:
            params["to"] = _time_param("end", end)
        if step_s is not None:
            params["step"] = str(float(step_s))
        return History.from_dict(await self._request("GET", "sites", site_id, "history", params=params))

    async def aggregated(self) -> AggregatedState:
        """The aggregate of all sites (admins only)."""
        return AggregatedState.from_dict(await self._request("GET", "sites", "aggregated"))

    # --- VPP (docs/vpp.md) ----------------------------------------------------------------------
    async def vpp(self) -> VppOverview:
        """Programs, events, committed schedules, offered flexibility and deviations per site (the
        aggregated resource for admins only)."""
        return VppOverview.from_dict(await self._request("GET", "vpp"))

    # --- energy community (docs/community.md) ------------------------------------------------------
    async def community(self) -> CommunityState:
        """The community: key, price, members (figures only of those the user may see), ledger head,
        latest recorded interval. :class:`PhoenyraNotFoundError` if no community is configured."""
        return CommunityState.from_dict(await self._request("GET", "community"))

    async def community_allocations(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> CommunityAllocations:
        """Recorded quarter-hours in ``[start, end)`` (default: today in the community's time zone;
        at most 31 days). Datetimes must be aware."""
        params: dict[str, str] = {}
        if start is not None:
            params["from"] = _time_param("start", start)
        if end is not None:
            params["to"] = _time_param("end", end)
        return CommunityAllocations.from_dict(
            await self._request("GET", "community", "allocations", params=params)
        )

    async def community_settlement(self, month: str) -> CommunitySettlement:
        """The settlement records of ``month`` (``YYYY-MM``) of the members the user may see."""
        return CommunitySettlement.from_dict(await self._request("GET", "community", "settlements", month))

    async def community_ledger(self) -> CommunityLedger:
        """The ledger's record count, head hash and latest signed checkpoint."""
        return CommunityLedger.from_dict(await self._request("GET", "community", "ledger"))

    async def set_control(
        self,
        site_id: str,
        mode: Mode | str,
        strategy: str | _Unset | None = UNSET,
        setpoint_kw: float | None = None,
        duration_s: float | None = None,
    ) -> ControlAck:
        """Set the mode (operators and admins). ``setpoint_kw`` (+ discharge, - charge) and
        ``duration_s`` (default 900 s, at most 86400 s) are for manual mode; ``strategy`` pins one
        strategy in auto mode, ``None`` unpins it (score-based selection), not given keeps the
        daemon's current pin. Takes effect in the site's next control cycle."""
        body: dict[str, Any] = {"mode": str(mode)}
        if not isinstance(strategy, _Unset):
            body["strategy"] = strategy
        if setpoint_kw is not None:
            body["setpoint_kw"] = setpoint_kw
        if duration_s is not None:
            body["duration_s"] = duration_s
        return ControlAck.from_dict(await self._request("POST", "sites", site_id, "control", body=body))

    async def set_strategy(self, site_id: str, strategy: str | None) -> ControlAck:
        """Pin ``strategy`` (``None``: score-based selection) and change nothing else: the mode, a
        manual setpoint and its expiry stay as the daemon has them (operators and admins)."""
        body = {"strategy": strategy}
        return ControlAck.from_dict(await self._request("POST", "sites", site_id, "control", body=body))

    async def set_limits(
        self,
        site_id: str,
        *,
        soc_reserve_pct: float | _Unset | None = UNSET,
        power_charge_max_kw: float | _Unset | None = UNSET,
        power_discharge_max_kw: float | _Unset | None = UNSET,
    ) -> Limits:
        """Set the operator limits (operators and admins); only the arguments given are sent.

        A limit not given keeps its current value on the daemon; ``None`` clears it.
        """
        body: dict[str, float | None] = {}
        for key, value in (
            ("soc_reserve_pct", soc_reserve_pct),
            ("power_charge_max_kw", power_charge_max_kw),
            ("power_discharge_max_kw", power_discharge_max_kw),
        ):
            if not isinstance(value, _Unset):
                body[key] = value
        data = await self._request("PUT", "sites", site_id, "limits", body=body)
        if not isinstance(data, dict):
            raise PhoenyraInvalidResponseError("invalid response: limits: expected an object")
        return Limits.from_dict(data.get("limits"), "limits")

    async def reload(self) -> ReloadResult:
        """Re-read the daemon's configuration file (admins). A file with errors changes nothing:
        ``reloaded`` is False and ``errors`` says why."""
        return ReloadResult.from_dict(await self._request("POST", "reload"))
