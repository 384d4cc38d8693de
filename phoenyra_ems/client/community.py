"""Typed views of the energy community routes (``/api/v1/community``, docs/community.md).

Wire models like :mod:`phoenyra_ems.client.models`, parsed as strictly: a field of the wrong type raises
:class:`PhoenyraInvalidResponseError` naming it (``intervals[3].members.wien.received_kwh: ...``);
unknown extra fields are ignored. Energies in kWh, amounts in EUR. A member's figures are present
only where the token's user may see that member (admins see all).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Self

from phoenyra_ems.client.exceptions import PhoenyraInvalidResponseError
from phoenyra_ems.client.wire import Wire, parse, spec

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


@dataclass(frozen=True, slots=True)
class MemberInterval(Wire):
    """One member's figures in one quarter-hour."""

    PATH: ClassVar[str] = "member"
    consumption_kwh: float
    generation_kwh: float
    received_kwh: float  # from the community (the rest of its consumption came from the grid)
    provided_kwh: float  # to the community (the rest of its generation is surplus)
    surplus_kwh: float
    paid_eur: float
    earned_eur: float


@dataclass(frozen=True, slots=True)
class CommunityInterval(Wire):
    """A recorded quarter-hour: its start (UTC), the internal price, the visible members' figures."""

    PATH: ClassVar[str] = "interval"
    interval: datetime
    price_eur_kwh: float
    members: dict[str, MemberInterval]


@dataclass(frozen=True, slots=True)
class CommunityPrice(Wire):
    PATH: ClassVar[str] = "price"
    mode: str  # fixed | dayahead
    fixed_eur_kwh: float
    dayahead_factor: float
    markup_eur_kwh: float


@dataclass(frozen=True, slots=True)
class CommunityMember(Wire):
    """A member; ``site`` is one of our sites (None: an external metering point)."""

    PATH: ClassVar[str] = "member"
    id: str
    name: str
    kind: str
    site: str | None
    visible: bool  # whether this user may see its figures
    share_pct: float | None
    participation_pct: float | None


@dataclass(frozen=True, slots=True)
class CommunityState(Wire):
    """``GET /community``: configuration, members, ledger head and the latest recorded interval."""

    PATH: ClassVar[str] = "community"
    id: str
    name: str
    key: str  # static | dynamic
    timezone: str
    price: CommunityPrice
    members: tuple[CommunityMember, ...]
    ledger_records: int = field(metadata=spec(at=("ledger", "records")))
    ledger_head: str | None = field(metadata=spec(at=("ledger", "head")))
    latest_interval: CommunityInterval | None
    # The visible members' figures summed over the recorded intervals of the community's local day
    # and month so far (absent from older daemons: empty)
    date: str | None = field(default=None, metadata=spec(at=("today", "date")))  # YYYY-MM-DD, local
    today: dict[str, MemberInterval] = field(default_factory=dict, metadata=spec(at=("today", "members")))
    month: str | None = field(default=None, metadata=spec(at=("month", "month")))  # YYYY-MM
    month_to_date: dict[str, MemberInterval] = field(
        default_factory=dict, metadata=spec(at=("month", "members"))
    )

    def member_for_site(self, site_id: str) -> CommunityMember | None:
        """The member that is our site ``site_id``, if it is one."""
        return next((m for m in self.members if m.site == site_id), None)


@dataclass(frozen=True, slots=True)
class CommunityAllocations(Wire):
    """``GET /community/allocations``: recorded intervals with ``start <= interval < end``."""

    PATH: ClassVar[str] = "allocations"
    start: datetime = field(metadata=spec(key="from"))
    end: datetime = field(metadata=spec(key="to"))
    intervals: tuple[CommunityInterval, ...]

    def totals(self, member: str) -> MemberInterval | None:
        """The sum of ``member``'s figures over these intervals (None: no figures of it here)."""
        rows = [i.members[member] for i in self.intervals if member in i.members]
        if not rows:
            return None
        names = [f.name for f in fields(MemberInterval)]
        return MemberInterval(**{n: sum(getattr(r, n) for r in rows) for n in names})


@dataclass(frozen=True, slots=True)
class MemberSettlement(Wire):
    """A member's month: energies in kWh, amounts in EUR; ``net_eur > 0``: the member is paid."""

    PATH: ClassVar[str] = "settlement"
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


@dataclass(frozen=True, slots=True)
class CommunitySettlement(Wire):
    """``GET /community/settlements/{month}``: the settlement records of the visible members."""

    PATH: ClassVar[str] = "settlement"
    month: str
    settled: bool  # False: the month is not settled yet (members is empty)
    members: tuple[MemberSettlement, ...]


@dataclass(frozen=True, slots=True)
class CommunityCheckpoint(Wire):
    """A signed tree head: ``body`` is the canonical JSON that ``signature`` (hex, Ed25519) signs."""

    PATH: ClassVar[str] = "checkpoint"
    body: str
    signature: str


@dataclass(frozen=True, slots=True)
class CommunityLedger(Wire):
    """``GET /community/ledger``: record count, head hash, latest signed checkpoint."""

    PATH: ClassVar[str] = "ledger"
    records: int
    head: str | None
    checkpoint: CommunityCheckpoint | None

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> Self:
        path = cls.PATH if path is None else path
        ledger = parse(cls, data, path)
        if ledger.records < 0:
            raise PhoenyraInvalidResponseError(
                f"invalid response: {path}.records: negative ({ledger.records})"
            )
        return ledger
