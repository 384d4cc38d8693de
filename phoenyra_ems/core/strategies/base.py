"""What every strategy sees and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from phoenyra_ems.config.model import GridTariffConfig
from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.models import PlantState

if TYPE_CHECKING:
    from phoenyra_ems.core.optimiser.plan import PlanInputs


@dataclass(frozen=True, slots=True)
class PriceSlot:
    start: datetime
    eur_mwh: float


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """The present situation of one site, as the strategies score it."""

    state: PlantState
    limits: SiteLimits
    tariffs: GridTariffConfig
    now: datetime
    dt_s: float
    prices: tuple[PriceSlot, ...] = ()  # known prices from the current slot on, in order
    slot_hours: float = 1.0  # length of one price slot
    recent_net_load_kw: tuple[float, ...] = field(default_factory=tuple)  # oldest first
    plan_inputs: PlanInputs | None = None  # forecasts and prices for the optimiser
    derate: float = 1.0  # power multiplier in force (thermal, room temperature)

    @property
    def price_now(self) -> float | None:
        return self.prices[0].eur_mwh if self.prices else self.state.price

    @property
    def usable_capacity_kwh(self) -> float:
        window = (self.limits.soc_max_pct - self.limits.soc_min_pct) / 100.0
        return self.limits.capacity_kwh * self.state.soh / 100.0 * window

    @property
    def stored_above_min_kwh(self) -> float:
        cap = self.limits.capacity_kwh * self.state.soh / 100.0
        return max(0.0, (self.state.soc - self.limits.soc_min_pct) / 100.0 * cap)

    @property
    def room_below_max_kwh(self) -> float:
        cap = self.limits.capacity_kwh * self.state.soh / 100.0
        return max(0.0, (self.limits.soc_max_pct - self.state.soc) / 100.0 * cap)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A strategy's wish: a setpoint (kW, + discharge), how much it is worth now, and why.

    ``score`` is the value of following this strategy now, in EUR per hour: scores of different
    strategies are comparable because they are in the same currency.
    """

    strategy: str
    setpoint_kw: float
    score: float
    reason: str
    urgent: bool = False  # may pre-empt the incumbent before its dwell time is over


class Strategy(Protocol):
    name: str

    def propose(self, ctx: DecisionContext) -> Proposal: ...
