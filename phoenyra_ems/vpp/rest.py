"""The plain-REST aggregator profile (``protocol: custom``; docs/vpp.md#plain-rest-profile).

For aggregators that speak no OpenADR: per resource, ``PUT {api_url}/sites/{id}/flexibility``,
``GET {api_url}/sites/{id}/schedule`` (200 with a schedule, 204 none), ``POST
{api_url}/sites/{id}/actuals``, with ``Authorization: Bearer <api_key>``. Same seam (``VppTarget``),
same rules as the VEN: a malformed schedule is rejected with a clear log line and never applied;
on communication loss the schedule handed over stays and the client retries with backoff.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from phoenyra_ems.core.vpp import Flexibility, VppInterval, VppSchedule
from phoenyra_ems.vpp import flexibility as fx
from phoenyra_ems.vpp.errors import VtnConnectionError, VtnError, VtnHttpError, VtnInvalidAnswer
from phoenyra_ems.vpp.events import parse_time
from phoenyra_ems.vpp.target import SocSource, VppTarget

log = logging.getLogger(__name__)
_FIELDS = ("setpoint_kw", "import_limit_kw", "export_limit_kw", "price_eur_kwh")


@dataclass(frozen=True)
class RestSettings:
    api_url: str
    api_key: str = field(repr=False)
    resources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    poll_interval_s: float = 10.0
    request_timeout_s: float = 10.0
    response_time_s: float = 5.0
    offer_duration_s: float = 900.0
    ssl: object = True
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0


def parse_schedule(data: Any, resource: str) -> VppSchedule:
    """The JSON answer of ``GET …/schedule`` -> ``VppSchedule`` (VtnInvalidAnswer naming the field)."""
    if not isinstance(data, dict) or not isinstance(data.get("schedule_id"), str) or not data["schedule_id"]:
        raise VtnInvalidAnswer("schedule: 'schedule_id' (a non-empty string) is required")
    raw = data.get("intervals")
    if not isinstance(raw, list):
        raise VtnInvalidAnswer("schedule: 'intervals' must be a list")
    intervals = []
    for index, item in enumerate(raw):
        where = f"schedule.intervals[{index}]"
        if not isinstance(item, dict):
            raise VtnInvalidAnswer(f"{where}: expected an object")
        try:
            start, end = parse_time(str(item["start"])), parse_time(str(item["end"]))
        except (KeyError, ValueError) as exc:
            raise VtnInvalidAnswer(f"{where}: 'start' and 'end' must be ISO 8601 times ({exc})") from None
        if end <= start:
            raise VtnInvalidAnswer(f"{where}: 'end' must be after 'start'")
        values: dict[str, float] = {}
        for name in _FIELDS:
            value = item.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise VtnInvalidAnswer(f"{where}.{name}: expected a number, got {value!r}")
            if name.endswith("limit_kw") and value < 0:
                raise VtnInvalidAnswer(f"{where}.{name}: must be >= 0")
            values[name] = float(value)
        intervals.append(VppInterval(start=start, end=end, **values))
    intervals.sort(key=lambda i: i.start)
    for before, after in itertools.pairwise(intervals):
        if after.start < before.end:
            raise VtnInvalidAnswer("schedule: intervals overlap")
    return VppSchedule(
        event_id=data["schedule_id"], program_id="rest", intervals=tuple(intervals), resource=resource
    )


class RestAggregatorService:
    """One aggregator connection; ``run()`` is its task."""

    def __init__(
        self,
        settings: RestSettings,
        target: VppTarget,
        *,
        session: aiohttp.ClientSession | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.target = target
        self._session = session
        self._own_session = session is None
        self._now = now
        self._applied: dict[str, VppSchedule | None] = {}
        self._offered: dict[str, Flexibility] = {}
        self.connected = False
        self.failures = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"RestAggregatorService(api_url={self.settings.api_url!r})"

    async def run(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            while True:
                delay = self.settings.poll_interval_s
                try:
                    await self.cycle()
                    self.connected, self.failures, self.last_error = True, 0, None
                except VtnError as exc:
                    self.failures += 1
                    self.last_error = str(exc)
                    self.connected = not isinstance(exc, VtnConnectionError) and self.connected
                    if isinstance(exc, VtnInvalidAnswer):
                        log.error("aggregator answer rejected, not applied: %s", exc)
                    else:
                        log.warning(
                            "aggregator %s: %s (attempt %d, schedules kept)",
                            self.settings.api_url,
                            exc,
                            self.failures,
                        )
                    delay = min(
                        self.settings.backoff_max_s,
                        self.settings.backoff_initial_s * 2 ** (self.failures - 1),
                    )
                except Exception:  # a bug here or in the target must not end the task
                    log.exception("plain-REST aggregator %s: cycle failed", self.settings.api_url)
                    self.failures += 1
                    delay = min(
                        self.settings.backoff_max_s,
                        self.settings.backoff_initial_s * 2 ** (self.failures - 1),
                    )
                await asyncio.sleep(delay)
        finally:
            if self._own_session and self._session is not None:
                await self._session.close()

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self._session is not None
        url = f"{self.settings.api_url.rstrip('/')}{path}"
        headers = {"Authorization": f"Bearer {self.settings.api_key}"}
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                async with self._session.request(
                    method,
                    url,
                    json=body,
                    headers=headers,
                    ssl=self.settings.ssl,  # type: ignore[arg-type]
                ) as resp:
                    status, data = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise VtnConnectionError(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        if status >= 400:
            raise VtnHttpError(f"{method} {url}: HTTP {status}", status)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            raise VtnInvalidAnswer(f"{method} {url}: answer is not JSON") from None

    async def cycle(self) -> None:
        now = self._now()
        power = {s.site_id: s.actual_kw for s in self.target.status() if s.actual_kw is not None}
        for resource, sites in self.settings.resources.items():
            status, data = await self._call("GET", f"/sites/{resource}/schedule")
            schedule = None if status == 204 or data is None else parse_schedule(data, resource)
            if schedule is not None and schedule.end is not None and schedule.end <= now:
                schedule = None
            if self._applied.get(resource, "unset") != schedule:
                self._applied[resource] = schedule
                self.target.apply_schedule(resource, schedule)
            offer = self.target.flexibility(resource, self.settings.offer_duration_s)
            if fx.material(self._offered.get(resource), offer):
                await self._call(
                    "PUT",
                    f"/sites/{resource}/flexibility",
                    {
                        "max_discharge_kw": offer.max_discharge_kw,
                        "max_charge_kw": offer.max_charge_kw,
                        "available_energy_kwh": offer.available_energy_kwh,
                        "headroom_energy_kwh": offer.headroom_energy_kwh,
                        "duration_s": offer.duration_s,
                        "response_time_s": self.settings.response_time_s,
                        "timestamp": now.isoformat(),
                    },
                )
                self._offered[resource] = offer
            known = [power[s] for s in sites if s in power]
            soc = self.target.soc_pct(resource) if isinstance(self.target, SocSource) else None
            await self._call(
                "POST",
                f"/sites/{resource}/actuals",
                {
                    "timestamp": now.isoformat(),
                    "power_kw": sum(known) if known else None,
                    "soc_pct": soc,
                    "available_energy_kwh": offer.available_energy_kwh,
                    "schedule_id": schedule.event_id if schedule is not None else None,
                },
            )
