"""Day-ahead prices for the decision logic."""

from __future__ import annotations

import csv
from bisect import bisect_right
from datetime import datetime, timedelta
from pathlib import Path
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
        # per horizon (the controller asks for 24 h, the optimiser for its 48 h): slot start, end, slots
        self._cached: dict[int, tuple[datetime, datetime, tuple[PriceSlot, ...]]] = {}

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        """Cached for the current slot: every cycle within the same hour reuses the same tuple."""
        count = max(1, int(horizon_h / self.slot_hours))
        cached = self._cached.get(count)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        result = tuple(PriceSlot(start, value) for start, value in self._series.slots(now, count))
        self._cached[count] = (result[0].start, result[0].start + timedelta(hours=self.slot_hours), result)
        return result


class FilePriceProvider:
    """Prices from a CSV file: ``timestamp_utc`` (ISO 8601, slot start) and ``price_eur_per_mwh``.

    The file is read once; slots must be regular (the step of the first two rows). Instants outside
    the file have no price (arbitrage holds).
    """

    def __init__(self, path: str | Path) -> None:
        with Path(path).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if len(rows) < 2 or not {"timestamp_utc", "price_eur_per_mwh"} <= set(rows[0]):
            raise ValueError(f"{path}: need columns timestamp_utc, price_eur_per_mwh and at least two rows")
        self._starts = [datetime.fromisoformat(r["timestamp_utc"].replace("Z", "+00:00")) for r in rows]
        self._prices = [float(r["price_eur_per_mwh"]) for r in rows]
        self.slot_hours = (self._starts[1] - self._starts[0]).total_seconds() / 3600.0

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        index = bisect_right(self._starts, now) - 1
        if index < 0 or now >= self._starts[-1] + timedelta(hours=self.slot_hours):
            return ()
        count = max(1, int(horizon_h / self.slot_hours))
        return tuple(
            PriceSlot(self._starts[i], self._prices[i])
            for i in range(index, min(index + count, len(self._prices)))
        )


class NoPrices:
    """A site without a price feed: arbitrage stays idle."""

    slot_hours = 1.0

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        return ()
