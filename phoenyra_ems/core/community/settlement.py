"""A member's monthly settlement: the sum of its interval allocations (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from phoenyra_ems.core.community.allocation import MemberAllocation


@dataclass(frozen=True, slots=True)
class MemberSettlement:
    community: str
    member: str
    month: str  # YYYY-MM in the community's time zone
    intervals: int
    consumption_kwh: float
    generation_kwh: float
    received_kwh: float
    from_grid_kwh: float
    provided_kwh: float
    surplus_kwh: float
    paid_eur: float
    earned_eur: float

    @property
    def net_eur(self) -> float:
        """Positive: the member is paid; negative: it pays the community."""
        return self.earned_eur - self.paid_eur

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["net_eur"] = self.net_eur
        return out


SETTLEMENT_COLUMNS = [f.name for f in fields(MemberSettlement)] + ["net_eur"]


# the figures of a member's settlement, in the order the API and the CSV give them
MEMBER_FIGURES = (
    "consumption_kwh",
    "generation_kwh",
    "received_kwh",
    "provided_kwh",
    "surplus_kwh",
    "paid_eur",
    "earned_eur",
)


def settle(community: str, member: str, month: str, rows: Iterable[MemberAllocation]) -> MemberSettlement:
    """Totals of one member's allocations over a month (energies in kWh, amounts in EUR)."""
    n = 0
    totals = dict.fromkeys(MEMBER_FIGURES, 0.0)
    for row in rows:
        n += 1
        for name in totals:
            totals[name] += getattr(row, name)
    return MemberSettlement(
        community=community,
        member=member,
        month=month,
        intervals=n,
        from_grid_kwh=totals["consumption_kwh"] - totals["received_kwh"],
        **totals,
    )
