"""The physics behind the simulator: battery, PV and load over simulated time (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from phoenyra_ems import series
from phoenyra_ems.core.battery import BatteryModel, BatteryState, step
from phoenyra_ems.models import Measurements


@dataclass
class SiteModel:
    """A site: battery + PV + load, advanced lazily to any instant."""

    battery: BatteryModel
    state: BatteryState
    pv_peak_kw: float = 0.0
    load_kind: str = "household"  # household | commercial | none
    annual_load_mwh: float = 6.0
    revert_timeout_s: float | None = 60.0
    ambient_c: float = 25.0
    setpoint_kw: float = 0.0
    p_bess_kw: float = 0.0
    last_update: datetime | None = None
    last_setpoint_write: datetime | None = None
    reverts: int = field(default=0)
    # (seconds or None for never, kW after it) the last setpoint write asked for; None: the
    # site's watchdog (revert_timeout_s, then 0 kW)
    reversion: tuple[float | None, float] | None = None

    def pv_kw(self, when: datetime) -> float:
        return max(0.0, series.pv_per_kwp().value_at(when) * self.pv_peak_kw)

    def load_kw(self, when: datetime) -> float:
        if self.load_kind == "household":
            scale = self.annual_load_mwh / 6.125  # the Konstanz house used ~6.1 MWh in 2016
            return max(0.0, series.household_load_kw().value_at(when) * scale)
        if self.load_kind == "commercial":
            return max(0.0, series.commercial_load_per_mwh_a().value_at(when) * self.annual_load_mwh)
        return 0.0

    def command(self, kw: float, when: datetime, reversion: tuple[float | None, float] | None = None) -> None:
        """A setpoint write arrived (our sign: + discharge).

        ``reversion``: (seconds or None for never, kW to fall back to) as the device's control
        registers state it (SunSpec revert timers); None: the watchdog (``revert_timeout_s``, 0 kW).
        """
        self.advance(when)
        self.setpoint_kw = kw
        self.last_setpoint_write = when
        self.reversion = reversion

    def _reversion(self) -> tuple[float | None, float]:
        return self.reversion if self.reversion is not None else (self.revert_timeout_s, 0.0)

    def _revert_at(self) -> datetime | None:
        timeout, target = self._reversion()
        if timeout is None or self.last_setpoint_write is None or self.setpoint_kw == target:
            return None
        return self.last_setpoint_write + timedelta(seconds=timeout)

    def advance(self, when: datetime) -> None:
        """Integrate the battery up to ``when`` (splitting at the revert timer if it fires)."""
        if self.last_update is None:
            self.last_update = when
            return
        revert_at = self._revert_at()
        if revert_at is not None and self.last_update < revert_at <= when:
            self._integrate(revert_at)
            self.setpoint_kw = self._reversion()[1]  # the watchdog: a setpoint not refreshed falls back
            self.reverts += 1
        self._integrate(when)

    def _integrate(self, when: datetime) -> None:
        assert self.last_update is not None
        dt = (when - self.last_update).total_seconds()
        if dt <= 0:
            return
        self.state, self.p_bess_kw = step(self.battery, self.state, self.setpoint_kw, dt, self.ambient_c)
        self.last_update = when

    def measurements(self, when: datetime) -> Measurements:
        self.advance(when)
        pv, load = self.pv_kw(when), self.load_kw(when)
        return Measurements(
            soc_pct=self.state.soc_pct,
            soh_pct=self.state.soh_pct,
            temp_c=self.state.temp_c,
            p_bess_kw=self.p_bess_kw,
            p_pv_kw=pv,
            p_load_kw=load,
            p_grid_kw=load - pv - self.p_bess_kw,
        )
