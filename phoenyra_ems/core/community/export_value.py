"""What a member site's export is worth when part of it is shared in its energy community (pure).

A kWh a member site feeds in is either *provided* to other members (paid at the community's internal
price) or *surplus* (sold at the site's feed-in tariff). Which part is shared in a future
quarter-hour is not known when the optimiser plans; the expected part is the member's recent
*uptake* at that time of day: for every interval of the last days in the ledger, the allocation is
run again with more generation offered by the member — as much as its battery can add in a
quarter-hour — and the share of that the community would have taken (its provided energy's
increase) is averaged per quarter-hour of the local day. Not the average share (provided /
generation): where another producer already covers the community, one more kWh only displaces
that producer's share. Not the uptake of a tiny extra kWh either: the plan is linear, and a
marginal uptake of 1 (a consumer whose need is not covered) would make it export the whole
battery where the community takes a few kWh (``bench/community_optimiser.py`` measures all three).

The optimiser then values export at step ``t`` at
``sell_t + uptake_t × (internal_t − sell_t)`` (EUR/MWh), a per-step price the model already takes
(``Problem.sell_eur_mwh``; it clips it to the purchase price as a meter nets flows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from phoenyra_ems.core.community.allocation import MemberMeter, allocate

FloatArray = NDArray[np.float64]
SLOTS_PER_DAY = 96  # quarter-hours of a local day
UPTAKE_DAYS = 7


@dataclass(frozen=True, slots=True)
class CommunityExportValue:
    """A member site's community terms for its plans: the price rule and the uptake by time of day."""

    community_id: str
    member: str
    uptake: tuple[float, ...]  # per quarter-hour of the local day (96 values), each in [0, 1]
    timezone: str = "Europe/Vienna"
    mode: str = "fixed"  # fixed | dayahead (as CommunityPrice)
    fixed_eur_kwh: float = 0.12
    dayahead_factor: float = 1.0
    markup_eur_kwh: float = 0.0
    days: int = 0  # how many days of records the uptake was measured on

    @property
    def mean_uptake(self) -> float:
        return float(np.mean(self.uptake)) if self.uptake else 0.0

    def internal_eur_mwh(self, dayahead_eur_mwh: FloatArray) -> FloatArray:
        """The internal price per step (EUR/MWh) from the day-ahead price of each step (NaN: unknown)."""
        dayahead = np.asarray(dayahead_eur_mwh, dtype=np.float64)
        fixed = np.full(dayahead.shape, self.fixed_eur_kwh * 1000.0)
        if self.mode != "dayahead":
            return fixed
        indexed = self.dayahead_factor * dayahead + self.markup_eur_kwh * 1000.0
        out: FloatArray = np.where(np.isfinite(dayahead), indexed, fixed)
        return out

    def uptake_at(self, times: Sequence[datetime]) -> FloatArray:
        """The expected shared part of an exported kWh at each of ``times`` (tz-aware)."""
        zone = ZoneInfo(self.timezone)
        profile = np.asarray(self.uptake, dtype=np.float64)
        if profile.size != SLOTS_PER_DAY:
            return np.zeros(len(times))
        slots = [_slot(t.astimezone(zone)) for t in times]
        out: FloatArray = profile[np.asarray(slots, dtype=np.intp)] if slots else np.zeros(0)
        return out


def _slot(local: datetime) -> int:
    return (local.hour * 60 + local.minute) // 15 % SLOTS_PER_DAY


def marginal_uptake(
    meters: Sequence[MemberMeter],
    member: str,
    key: str,
    shares: Mapping[str, float] | None = None,
    step_kwh: float = 0.01,
) -> float:
    """The share of ``step_kwh`` more generation offered by ``member`` that the community takes in
    this interval (``meters``: every member's offered energy, after participation)."""
    if step_kwh <= 0:
        raise ValueError("step_kwh must be > 0")

    def provided(readings: Sequence[MemberMeter]) -> float:
        result = allocate(readings, key, 0.0, shares)
        return next((m.provided_kwh for m in result.members if m.member == member), 0.0)

    more = [
        MemberMeter(m.member, m.consumption_kwh, m.generation_kwh + (step_kwh if m.member == member else 0.0))
        for m in meters
    ]
    if all(m.member != member for m in meters):
        more.append(MemberMeter(member, 0.0, step_kwh))
    share = (provided(more) - provided(meters)) / step_kwh
    return min(max(share, 0.0), 1.0)


def uptake_profile(
    rows: Iterable[tuple[str, float]], timezone: str, participation: float = 1.0
) -> tuple[tuple[float, ...], int]:
    """``(interval start ISO UTC, marginal uptake)`` rows -> (mean uptake per local quarter-hour,
    days seen); quarter-hours without rows: 0.

    Of each further kWh the site exports it offers ``participation`` kWh to this community, so the
    uptake is scaled by it.
    """
    zone = ZoneInfo(timezone)
    sums = np.zeros(SLOTS_PER_DAY)
    counts = np.zeros(SLOTS_PER_DAY)
    days: set[str] = set()
    for interval, share in rows:
        when = datetime.fromisoformat(interval.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        local = when.astimezone(zone)
        days.add(local.date().isoformat())
        k = _slot(local)
        sums[k] += min(max(share, 0.0), 1.0)
        counts[k] += 1
    mean = np.divide(sums, counts, out=np.zeros(SLOTS_PER_DAY), where=counts > 0)
    factor = min(max(participation, 0.0), 1.0)
    return tuple(float(v) for v in np.clip(mean * factor, 0.0, 1.0)), len(days)


def export_value_eur_mwh(
    sell_eur_mwh: FloatArray, internal_eur_mwh: FloatArray, uptake: FloatArray
) -> FloatArray:
    """The expected value of an exported MWh per step: the shared part at the internal price, the
    rest at the feed-in price ``sell``."""
    sell = np.asarray(sell_eur_mwh, dtype=np.float64)
    share = np.clip(np.nan_to_num(np.asarray(uptake, dtype=np.float64), nan=0.0), 0.0, 1.0)
    internal = np.asarray(internal_eur_mwh, dtype=np.float64)
    internal = np.where(np.isfinite(internal), internal, sell)
    out: FloatArray = sell + share * (internal - sell)
    return out
