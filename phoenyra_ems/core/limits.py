"""The limits one site's setpoint must respect, derived from its configuration and the time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from phoenyra_ems.config.model import FeedinLimitationConfig, SiteConfig


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """Hard limits, all in kW / % / kWh. ``None`` means "no such limit"."""

    capacity_kwh: float
    charge_max_kw: float
    discharge_max_kw: float
    efficiency_charge: float
    efficiency_discharge: float
    soc_min_pct: float
    soc_max_pct: float
    grid_import_max_kw: float | None = None
    grid_export_max_kw: float | None = None
    peak_import_cap_kw: float | None = None  # contractual import target (demand charge)
    ramp_kw_per_s: float | None = None

    @property
    def import_cap_kw(self) -> float | None:
        """The tighter of the connection limit and the contractual peak cap."""
        caps = [c for c in (self.grid_import_max_kw, self.peak_import_cap_kw) if c is not None]
        return min(caps) if caps else None

    @classmethod
    def from_site(cls, site: SiteConfig, feedin_limit_kw: float | None = None) -> SiteLimits:
        bess, grid = site.bess, site.grid_connection
        export_cap = grid.max_export_kw if grid.max_export_kw is not None else grid.max_power_kw
        if feedin_limit_kw is not None:
            export_cap = feedin_limit_kw if export_cap is None else min(export_cap, feedin_limit_kw)
        return cls(
            capacity_kwh=bess.energy_capacity_kwh,
            charge_max_kw=bess.power_charge_max_kw,
            discharge_max_kw=bess.power_discharge_max_kw,
            efficiency_charge=bess.efficiency_charge,
            efficiency_discharge=bess.efficiency_discharge,
            soc_min_pct=bess.soc_min_pct,
            soc_max_pct=bess.soc_max_pct,
            grid_import_max_kw=grid.max_power_kw,
            grid_export_max_kw=export_cap,
            peak_import_cap_kw=site.grid_tariffs.peak_import_cap_kw,
            ramp_kw_per_s=bess.ramp_rate_kw_per_s,
        )


def _in_window(now: time, start: time, end: time) -> bool:
    if start < end:
        return start <= now < end
    return now >= start or now < end  # wraps past midnight (or covers the whole day if equal)


def feedin_limit_pct(config: FeedinLimitationConfig, local_time: time) -> float | None:
    """The feed-in limit in % of PV peak at ``local_time``; None when there is none."""
    if not config.enabled:
        return None
    if config.mode == "fixed":
        return config.fixed_limit_pct
    for rule in config.dynamic_rules:
        if _in_window(local_time, rule.start, rule.end):
            return rule.limit_pct
    return None


def feedin_limit_kw(site: SiteConfig, when: datetime) -> float | None:
    """The feed-in (export) limit in kW at ``when`` (rules are read in the site's local time)."""
    pct = feedin_limit_pct(site.feedin_limitation, when.timetz().replace(tzinfo=None))
    if pct is None:
        return None
    return site.forecast.pv_peak_power_kw * pct / 100.0


def feedin_limit_varies(site: SiteConfig) -> bool:
    """Whether the site's feed-in limit changes with the time of day (dynamic rules)."""
    config = site.feedin_limitation
    return config.enabled and config.mode != "fixed" and bool(config.dynamic_rules)


def limits_at(site: SiteConfig, when: datetime) -> SiteLimits:
    """The site's limits in force at ``when``."""
    return SiteLimits.from_site(site, feedin_limit_kw(site, when))
