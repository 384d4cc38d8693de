"""Typed views of the energy community routes (``/api/v1/community``, docs/community.md).

Parsed as strictly as :mod:`phoenyra_ems.client.models`: a field of the wrong type raises
:class:`PhoenyraInvalidResponseError` naming it (``intervals[3].members.wien.received_kwh: ...``);
unknown extra fields are ignored. Energies in kWh, amounts in EUR. A member's figures are present
only where the token's user may see that member (admins see all).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Self

from phoenyra_ems.client.exceptions import PhoenyraInvalidResponseError
from phoenyra_ems.client.models import (
    _bool,
    _field,
    _int,
    _list,
    _num,
    _object,
    _opt_num,
    _opt_str,
    _str,
    _time,
)

__all__ = [
    "CommunityAllocations",
    "CommunityCheckpoint",
    "CommunityInterval",
    "CommunityLedger",
    "CommunityMember",
    "CommunityPrice",
    "CommunitySettlement",
    "CommunityState",
    "MemberInterval",
    "MemberSettlement",
]


def _members(data: Mapping[str, Any], key: str, path: str) -> dict[str, MemberInterval]:
    value = _object(_field(data, key, path), f"{path}.{key}")
    return {str(mid): MemberInterval.from_dict(v, f"{path}.{key}.{mid}") for mid, v in value.items()}


@dataclass(frozen=True, slots=True)
class MemberInterval:
    """One member's figures in one quarter-hour."""

    consumption_kwh: float
    generation_kwh: float
    received_kwh: float  # from the community (the rest of its consumption came from the grid)
    provided_kwh: float  # to the community (the rest of its generation is surplus)
    surplus_kwh: float
    paid_eur: float
    earned_eur: float

    @classmethod
    def from_dict(cls, data: Any, path: str = "member") -> Self:
        d = _object(data, path)
        return cls(
            consumption_kwh=_num(d, "consumption_kwh", path),
            generation_kwh=_num(d, "generation_kwh", path),
            received_kwh=_num(d, "received_kwh", path),
            provided_kwh=_num(d, "provided_kwh", path),
            surplus_kwh=_num(d, "surplus_kwh", path),
            paid_eur=_num(d, "paid_eur", path),
            earned_eur=_num(d, "earned_eur", path),
        )


@dataclass(frozen=True, slots=True)
class CommunityInterval:
    """A recorded quarter-hour: its start (UTC), the internal price, the visible members' figures."""

    interval: datetime
    price_eur_kwh: float
    members: dict[str, MemberInterval]

    @classmethod
    def from_dict(cls, data: Any, path: str = "interval") -> Self:
        d = _object(data, path)
        return cls(
            interval=_time(d, "interval", path),
            price_eur_kwh=_num(d, "price_eur_kwh", path),
            members=_members(d, "members", path),
        )


@dataclass(frozen=True, slots=True)
class CommunityPrice:
    mode: str  # fixed | dayahead
    fixed_eur_kwh: float
    dayahead_factor: float
    markup_eur_kwh: float

    @classmethod
    def from_dict(cls, data: Any, path: str = "price") -> Self:
        d = _object(data, path)
        return cls(
            mode=_str(d, "mode", path),
            fixed_eur_kwh=_num(d, "fixed_eur_kwh", path),
            dayahead_factor=_num(d, "dayahead_factor", path),
            markup_eur_kwh=_num(d, "markup_eur_kwh", path),
        )


@dataclass(frozen=True, slots=True)
class CommunityMember:
    """A member; ``site`` is one of our sites (None: an external metering point)."""

    id: str
    name: str
    kind: str
    site: str | None
    visible: bool  # whether this user may see its figures
    share_pct: float | None
    participation_pct: float | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "member") -> Self:
        d = _object(data, path)
        return cls(
            id=_str(d, "id", path),
            name=_str(d, "name", path),
            kind=_str(d, "kind", path),
            site=_opt_str(d, "site", path),
            visible=_bool(d, "visible", path),
            share_pct=_opt_num(d, "share_pct", path),
            participation_pct=_opt_num(d, "participation_pct", path),
        )


@dataclass(frozen=True, slots=True)
class CommunityState:
    """``GET /community``: configuration, members, ledger head and the latest recorded interval."""

    id: str
    name: str
    key: str  # static | dynamic
    timezone: str
    price: CommunityPrice
    members: tuple[CommunityMember, ...]
    ledger_records: int
    ledger_head: str | None
    latest_interval: CommunityInterval | None
    # The visible members' figures summed over the recorded intervals of the community's local day
    # and month so far (absent from older daemons: empty)
    date: str | None = None  # YYYY-MM-DD, the community's local day
    today: dict[str, MemberInterval] = field(default_factory=dict)
    month: str | None = None  # YYYY-MM
    month_to_date: dict[str, MemberInterval] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, path: str = "community") -> Self:
        d = _object(data, path)
        ledger = _object(_field(d, "ledger", path), f"{path}.ledger")
        latest = d.get("latest_interval")
        today = _object(d.get("today", {}), f"{path}.today")
        month = _object(d.get("month", {}), f"{path}.month")
        return cls(
            id=_str(d, "id", path),
            name=_str(d, "name", path),
            key=_str(d, "key", path),
            timezone=_str(d, "timezone", path),
            price=CommunityPrice.from_dict(_field(d, "price", path), f"{path}.price"),
            members=_list(d, "members", path, CommunityMember.from_dict),
            ledger_records=_int(ledger, "records", f"{path}.ledger"),
            ledger_head=_opt_str(ledger, "head", f"{path}.ledger"),
            latest_interval=None
            if latest is None
            else CommunityInterval.from_dict(latest, f"{path}.latest_interval"),
            date=_opt_str(today, "date", f"{path}.today"),
            today=_members(today, "members", f"{path}.today") if "members" in today else {},
            month=_opt_str(month, "month", f"{path}.month"),
            month_to_date=_members(month, "members", f"{path}.month") if "members" in month else {},
        )

    def member_for_site(self, site_id: str) -> CommunityMember | None:
        """The member that is our site ``site_id``, if it is one."""
        return next((m for m in self.members if m.site == site_id), None)


@dataclass(frozen=True, slots=True)
class CommunityAllocations:
    """``GET /community/allocations``: recorded intervals with ``start <= interval < end``."""

    start: datetime
    end: datetime
    intervals: tuple[CommunityInterval, ...]

    @classmethod
    def from_dict(cls, data: Any, path: str = "allocations") -> Self:
        d = _object(data, path)
        return cls(
            start=_time(d, "from", path),
            end=_time(d, "to", path),
            intervals=_list(d, "intervals", path, CommunityInterval.from_dict),
        )

    def totals(self, member: str) -> MemberInterval | None:
        """The sum of ``member``'s figures over these intervals (None: no figures of it here)."""
        rows = [i.members[member] for i in self.intervals if member in i.members]
        if not rows:
            return None
        names = [f.name for f in fields(MemberInterval)]
        return MemberInterval(**{n: sum(getattr(r, n) for r in rows) for n in names})


@dataclass(frozen=True, slots=True)
class MemberSettlement:
    """A member's month: energies in kWh, amounts in EUR; ``net_eur > 0``: the member is paid."""

    member: str
    month: str
    intervals: int
    consumption_kwh: float
    generation_kwh: float
    received_kwh: float
    from_grid_kwh: float
    provided_kwh: float
    surplus_kwh: float
    paid_eur: float
    earned_eur: float
    net_eur: float

    @classmethod
    def from_dict(cls, data: Any, path: str = "settlement") -> Self:
        d = _object(data, path)
        return cls(
            member=_str(d, "member", path),
            month=_str(d, "month", path),
            intervals=_int(d, "intervals", path),
            consumption_kwh=_num(d, "consumption_kwh", path),
            generation_kwh=_num(d, "generation_kwh", path),
            received_kwh=_num(d, "received_kwh", path),
            from_grid_kwh=_num(d, "from_grid_kwh", path),
            provided_kwh=_num(d, "provided_kwh", path),
            surplus_kwh=_num(d, "surplus_kwh", path),
            paid_eur=_num(d, "paid_eur", path),
            earned_eur=_num(d, "earned_eur", path),
            net_eur=_num(d, "net_eur", path),
        )


@dataclass(frozen=True, slots=True)
class CommunitySettlement:
    """``GET /community/settlements/{month}``: the settlement records of the visible members."""

    month: str
    settled: bool  # False: the month is not settled yet (members is empty)
    members: tuple[MemberSettlement, ...]

    @classmethod
    def from_dict(cls, data: Any, path: str = "settlement") -> Self:
        d = _object(data, path)
        return cls(
            month=_str(d, "month", path),
            settled=_bool(d, "settled", path),
            members=_list(d, "members", path, MemberSettlement.from_dict),
        )


@dataclass(frozen=True, slots=True)
class CommunityCheckpoint:
    """A signed tree head: ``body`` is the canonical JSON that ``signature`` (hex, Ed25519) signs."""

    body: str
    signature: str

    @classmethod
    def from_dict(cls, data: Any, path: str = "checkpoint") -> Self:
        d = _object(data, path)
        return cls(body=_str(d, "body", path), signature=_str(d, "signature", path))


@dataclass(frozen=True, slots=True)
class CommunityLedger:
    """``GET /community/ledger``: record count, head hash, latest signed checkpoint."""

    records: int
    head: str | None
    checkpoint: CommunityCheckpoint | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "ledger") -> Self:
        d = _object(data, path)
        cp = d.get("checkpoint")
        records = _int(d, "records", path)
        if records < 0:
            raise PhoenyraInvalidResponseError(f"invalid response: {path}.records: negative ({records})")
        return cls(
            records=records,
            head=_opt_str(d, "head", path),
            checkpoint=None if cp is None else CommunityCheckpoint.from_dict(cp, f"{path}.checkpoint"),
        )
