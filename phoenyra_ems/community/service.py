"""A month of a community: allocate every interval into the ledger, then settle from the ledger."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from phoenyra_ems.community.ledger import Ledger
from phoenyra_ems.community.meters import (
    interval_starts,
    iso,
    member_meter,
    month_bounds,
    month_of,
)
from phoenyra_ems.community.store import open_store
from phoenyra_ems.config.community_model import CommunityConfig
from phoenyra_ems.config.model import EmsConfig
from phoenyra_ems.core.community.allocation import (
    MemberAllocation,
    MemberMeter,
    allocate,
    internal_price_eur_kwh,
)
from phoenyra_ems.core.community.export_value import (
    UPTAKE_DAYS,
    CommunityExportValue,
    marginal_uptake,
    uptake_profile,
)
from phoenyra_ems.core.community.settlement import MEMBER_FIGURES, MemberSettlement, settle

FIELDS = MEMBER_FIGURES
DIGITS = (4, 4, 4, 4, 4, 6, 6)  # 0.1 Wh, 0.0001 cent


@dataclass
class MonthRun:
    month: str
    intervals: int = 0
    appended: int = 0
    already: int = 0
    missing: dict[str, int] = field(default_factory=dict)  # member -> intervals without data
    waiting: int = 0  # intervals not recorded: some member's data are missing

    @property
    def complete(self) -> bool:
        return self.already + self.appended == self.intervals


def ledger_for(community: CommunityConfig, writable: bool = True) -> Ledger:
    """The community's ledger in its configured store (SQLite file or PostgreSQL). ``writable``:
    created if absent and signed with the key in ``key_dir``; else :class:`LedgerMissing` if absent."""
    store = open_store(community.ledger, community.community_id, read_only=not writable)
    return Ledger(
        store,
        community.community_id,
        community.ledger.key_dir if writable else None,
        community.ledger.checkpoint_every,
    )


def dayahead(zone: str, ts: int) -> float | None:
    from phoenyra_ems import series

    return series.prices(zone).value_at(datetime.fromtimestamp(ts, UTC))


def interval_data(ts: int, key: str, price: float, members: tuple[MemberAllocation, ...]) -> dict[str, Any]:
    return {
        "interval": iso(ts),
        "key": key,
        "price_eur_kwh": round(price, 6),
        "fields": list(FIELDS),
        "members": {
            m.member: [round(getattr(m, name), digits) for name, digits in zip(FIELDS, DIGITS, strict=True)]
            for m in members
        },
    }


def allocate_month(
    config: EmsConfig,
    community: CommunityConfig,
    ledger: Ledger,
    month: str,
    source: str,
    now: datetime | None = None,
    allow_missing: bool = False,
) -> MonthRun:
    """Append an interval record for every quarter-hour of ``month`` that has ended and is not yet in
    the ledger (an append-only ledger must never hold a quarter-hour before its meters are read).

    An interval for which some member has no data waits (``run.waiting``) for a later run, unless
    ``allow_missing``: then the missing data count as 0 kWh.
    """
    start, end = month_bounds(month, community.timezone)
    end = min(end, now or datetime.now(UTC))
    starts = [ts for ts in interval_starts(start, end) if ts + 900 <= end.timestamp()] if start < end else []
    run = MonthRun(month, intervals=len(starts))
    done = {r.period for r in ledger.records("interval", month)}
    todo = [ts for ts in starts if iso(ts) not in done]
    run.already = len(starts) - len(todo)
    if not todo:
        return run
    meters = {}
    for mid, member in community.members.items():
        meters[mid], missing = member_meter(member, config, todo, source)
        if missing:
            run.missing[mid] = missing
    if not allow_missing:
        todo = [ts for ts in todo if all(ts in meter for meter in meters.values())]
        run.waiting = len(starts) - run.already - len(todo)
    shares, factors, price = community.shares(), community.participation(), community.price

    def entries() -> Iterator[tuple[str, str, str, str | None, dict[str, Any]]]:
        for ts in todo:
            rate = internal_price_eur_kwh(
                price.mode,
                price.fixed_eur_kwh,
                dayahead(price.zone, ts) if price.mode == "dayahead" else None,
                price.dayahead_factor,
                price.markup_eur_kwh,
            )
            readings = [MemberMeter(mid, *meters[mid].get(ts, (0.0, 0.0))) for mid in community.members]
            result = allocate(readings, community.key, rate, shares, factors)
            yield (
                "interval",
                iso(ts),
                month_of(ts, community.timezone),
                None,
                interval_data(ts, community.key, rate, result.members),
            )

    run.appended = len(ledger.append(entries()))
    return run


def recorded_allocations(ledger: Ledger, month: str) -> list[tuple[str, float, dict[str, MemberAllocation]]]:
    """The month's interval records as allocations: (interval, price, member -> allocation)."""
    out = []
    for record in ledger.records("interval", month):
        data = record.data
        names = data["fields"]
        members = {
            mid: MemberAllocation(member=mid, **dict(zip(names, values, strict=True)))
            for mid, values in data["members"].items()
        }
        out.append((data["interval"], float(data["price_eur_kwh"]), members))
    return out


def settlements_from(
    community: str, month: str, rows: list[tuple[str, float, dict[str, MemberAllocation]]]
) -> list[MemberSettlement]:
    members = sorted({mid for _, _, alloc in rows for mid in alloc})
    return [
        settle(community, mid, month, (alloc[mid] for _, _, alloc in rows if mid in alloc)) for mid in members
    ]


class MonthNotOver(ValueError):
    """A month is settled once, so only after its last quarter-hour."""


def settle_month(
    ledger: Ledger, month: str, tz: str = "Europe/Vienna", now: datetime | None = None
) -> tuple[list[MemberSettlement], bool]:
    """The month's settlements from the recorded intervals; appended (once) as settlement records.

    Returns (settlements, appended now). A month settled before is read back, not settled twice.
    """
    start, end = month_bounds(month, tz)
    if end > (now or datetime.now(UTC)):
        raise MonthNotOver(f"{month} is not over yet: a month is settled once, after its last quarter-hour")
    recorded = sum(1 for _ in ledger.records("interval", month))
    expected = len(interval_starts(start, end))
    if recorded < expected and not list(ledger.records("settlement", month)):
        raise MonthNotOver(f"{month}: {expected - recorded} of {expected} intervals are not recorded yet")
    existing = list(ledger.records("settlement", month))
    if existing:
        return [
            MemberSettlement(**{k: v for k, v in r.data.items() if k != "net_eur"}) for r in existing
        ], False
    result = settlements_from(ledger.community, month, recorded_allocations(ledger, month))
    if not result:
        return [], False
    ledger.append(("settlement", month, month, s.member, _rounded(s.as_dict())) for s in result)
    ledger.checkpoint()
    return result, True


def settle_month_readonly(
    ledger: Ledger, month: str, rows: list[tuple[str, float, dict[str, MemberAllocation]]]
) -> tuple[list[MemberSettlement], bool]:
    """The month's settlement records if settled, else computed from ``rows`` (nothing written)."""
    existing = list(ledger.records("settlement", month))
    if existing:
        return [
            MemberSettlement(**{k: v for k, v in r.data.items() if k != "net_eur"}) for r in existing
        ], True
    return settlements_from(ledger.community, month, rows), False


def _rounded(data: dict[str, object]) -> dict[str, object]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in data.items()}


def export_values(
    community: CommunityConfig,
    ledger: Ledger,
    now: datetime,
    step_kwh: Mapping[str, float] | None = None,
    days: int = UPTAKE_DAYS,
) -> dict[str, CommunityExportValue]:
    """Per site member (by site id): its community terms for the optimiser — the price rule and its
    uptake by local quarter-hour over the last ``days`` days of interval records: the share the
    community would have taken of ``step_kwh[site]`` more export (default: a quarter-hour of the
    battery's full power, which the caller passes; 0.01 kWh where none is given)."""
    since = iso(int(now.timestamp()) - days * 86400)
    sites = {mid: m for mid, m in community.members.items() if m.site is not None}
    rows: dict[str, list[tuple[str, float]]] = {mid: [] for mid in sites}
    shares = community.shares() if community.key == "static" else None
    for record in ledger.records("interval", since=since):
        data = record.data
        names = data["fields"]
        at_c, at_g = names.index("consumption_kwh"), names.index("generation_kwh")
        meters = [MemberMeter(mid, float(v[at_c]), float(v[at_g])) for mid, v in data["members"].items()]
        for mid, member in sites.items():
            step = max((step_kwh or {}).get(str(member.site), 0.01), 0.01) * member.participation_pct / 100
            rows[mid].append(
                (data["interval"], marginal_uptake(meters, mid, data["key"], shares, max(step, 1e-6)))
            )
    price = community.price
    out = {}
    for mid, member in sites.items():
        uptake, seen = uptake_profile(rows[mid], community.timezone, member.participation_pct / 100.0)
        out[str(member.site)] = CommunityExportValue(
            community_id=community.community_id,
            member=mid,
            uptake=uptake,
            timezone=community.timezone,
            mode=price.mode,
            fixed_eur_kwh=price.fixed_eur_kwh,
            dayahead_factor=price.dayahead_factor,
            markup_eur_kwh=price.markup_eur_kwh,
            days=seen,
        )
    return out
