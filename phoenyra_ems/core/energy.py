"""Energy counters of one site: charged, discharged, imported and exported kWh since counting began.

The trapezoidal integral of the measured battery and grid power over the control cycles' timestamps
(the site's clock: a demo at 60x counts simulated energy), split exactly where a power changes sign.
Only fresh readings are integrated: a cycle without a reading (device not answering) or samples more
than ``max_gap_s`` apart break the chain, and energy in such a gap is not counted (unknown). The
history store persists the totals with the samples, so they continue across daemon restarts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from phoenyra_ems.models import EnergyTotals  # the counters are state: they live with the other models

MAX_GAP_S = 600.0


def positive_part_kwh(p0: float, p1: float, hours: float) -> float:
    """∫ max(0, p(t)) dt over a linear segment from ``p0`` to ``p1`` kW lasting ``hours`` (kWh)."""
    if hours <= 0 or (p0 <= 0 and p1 <= 0):
        return 0.0
    if p0 >= 0 and p1 >= 0:
        return (p0 + p1) / 2 * hours
    positive = max(p0, p1)  # a sign change: the triangle up to the zero crossing
    return positive * positive / (2 * abs(p1 - p0)) * hours


class EnergyMeter:
    """Counts from the samples it is given; ``totals`` is ``None`` until the persisted base is known
    (``restore``), so a reader never sees a counter go backwards."""

    def __init__(self, max_gap_s: float = MAX_GAP_S) -> None:
        self.max_gap_s = max_gap_s
        self._counted = EnergyTotals()
        self._base: EnergyTotals | None = None
        self._last: tuple[datetime, float, float] | None = None

    @property
    def restored(self) -> bool:
        return self._base is not None

    def restore(self, base: EnergyTotals | None) -> None:
        """The totals persisted before this run (``None``: nothing was persisted, count from zero)."""
        self._base = base or EnergyTotals()

    @property
    def totals(self) -> EnergyTotals | None:
        return None if self._base is None else self._base.plus(self._counted)

    def add(self, timestamp: datetime, p_bess_kw: float, p_grid_kw: float) -> None:
        """A fresh reading (kW, + discharge / + import)."""
        last, self._last = self._last, (timestamp, p_bess_kw, p_grid_kw)
        if self._counted.since is None:
            self._counted = replace(self._counted, since=timestamp)
        if last is None:
            return
        t0, bess0, grid0 = last
        seconds = (timestamp - t0).total_seconds()
        if seconds <= 0 or seconds > self.max_gap_s:
            return
        hours = seconds / 3600
        self._counted = EnergyTotals(
            self._counted.charged_kwh + positive_part_kwh(-bess0, -p_bess_kw, hours),
            self._counted.discharged_kwh + positive_part_kwh(bess0, p_bess_kw, hours),
            self._counted.imported_kwh + positive_part_kwh(grid0, p_grid_kw, hours),
            self._counted.exported_kwh + positive_part_kwh(-grid0, -p_grid_kw, hours),
            self._counted.since,
        )

    def gap(self) -> None:
        """No reading this cycle: the next reading starts a new chain."""
        self._last = None


__all__ = ["MAX_GAP_S", "EnergyMeter", "EnergyTotals", "positive_part_kwh"]
