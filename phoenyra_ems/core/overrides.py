"""Operator limits at runtime (SoC reserve, power caps): only ever inside the configured hardware."""

from __future__ import annotations

from dataclasses import dataclass, replace

from phoenyra_ems.config.model import SiteConfig


@dataclass(frozen=True, slots=True)
class LimitOverrides:
    soc_reserve_pct: float | None = None  # raises the lower end of the SoC window
    power_charge_max_kw: float | None = None
    power_discharge_max_kw: float | None = None


def override_errors(site: SiteConfig, overrides: LimitOverrides) -> dict[str, str]:
    """Per-field reasons why ``overrides`` would leave the hardware limits (empty when valid)."""
    bess, errors = site.bess, {}
    if overrides.soc_reserve_pct is not None and not (
        bess.soc_min_pct <= overrides.soc_reserve_pct < bess.soc_max_pct
    ):
        window = f"soc_min_pct ({bess.soc_min_pct:g}) and below soc_max_pct ({bess.soc_max_pct:g})"
        errors["soc_reserve_pct"] = f"must be at least {window}"
    for name, hardware in (
        ("power_charge_max_kw", bess.power_charge_max_kw),
        ("power_discharge_max_kw", bess.power_discharge_max_kw),
    ):
        value = getattr(overrides, name)
        if value is not None and not (0 <= value <= hardware):
            errors[name] = f"must be between 0 and the hardware limit {hardware:g} kW"
    return errors


def apply_overrides(site: SiteConfig, overrides: LimitOverrides) -> SiteConfig:
    """The site as the decision logic should see it (call only with valid overrides)."""
    if overrides == LimitOverrides():
        return site
    bess = site.bess
    return replace(
        site,
        bess=replace(
            bess,
            soc_min_pct=max(bess.soc_min_pct, overrides.soc_reserve_pct or bess.soc_min_pct),
            power_charge_max_kw=min(
                bess.power_charge_max_kw, _or(overrides.power_charge_max_kw, bess.power_charge_max_kw)
            ),
            power_discharge_max_kw=min(
                bess.power_discharge_max_kw,
                _or(overrides.power_discharge_max_kw, bess.power_discharge_max_kw),
            ),
        ),
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
