"""Day-ahead prices for the decision logic."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from phoenyra_ems import series
from phoenyra_ems.core.strategies.base import PriceSlot


class PriceProvider(Protocol):
    slot_hours: float

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        """Known prices from the slot containing ``now`` over ``horizon_h`` hours."""
        ...


class ReplayPriceProvider:
    """Real 2024 day-ahead prices replayed on the same day of the year (demo, simulator, tests)."""

    def __init__(self, zone: str = "at") -> None:
        self._series = series.prices(zone)
        self.slot_hours = self._series.step_s / 3600.0

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        count = max(1, int(horizon_h / self.slot_hours))
        return tuple(PriceSlot(start, value) for start, value in self._series.slots(now, count))


class NoPrices:
    """A site without a price feed: arbitrage stays idle."""

    slot_hours = 1.0

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        return ()
