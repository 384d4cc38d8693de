"""The flexibility a site can actually offer an aggregator (pure; docs/vpp.md "Control").

Not the configuration's static numbers: what the battery can hold for the whole offered duration
given its state of charge and SoC window (SoH applied), its power limits (operator overrides and
derating included), and the grid connection with the site's own planned net load (load - PV) over
that time. Energies are AC-side: what reaches or leaves the bus (efficiencies applied).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.vpp import Flexibility

MATERIAL_SHARE = 0.1  # a change of 10 % of the previous offer ...
MATERIAL_KW = 1.0  # ... and at least 1 kW (or 1 kWh) is worth re-announcing


def offered_flexibility(
    site_id: str,
    limits: SiteLimits,
    soc_pct: float,
    duration_s: float,
    *,
    soh_pct: float = 100.0,
    derate: float = 1.0,
    net_load_kw: Sequence[float] = (0.0,),
) -> Flexibility:
    """What the site can deliver (discharge) and absorb (charge) for ``duration_s`` from now.

    ``net_load_kw``: the planned net load over the duration (forecast; the present one at least);
    the grid headroom is taken at its worst moment.
    """
    capacity = limits.capacity_kwh * min(max(soh_pct, 1.0), 100.0) / 100.0
    derate = min(max(derate, 0.0), 1.0) if math.isfinite(derate) else 0.0
    soc = min(max(soc_pct, 0.0), 100.0) if math.isfinite(soc_pct) else limits.soc_min_pct
    available = max(0.0, (soc - limits.soc_min_pct) / 100.0 * capacity) * limits.efficiency_discharge
    headroom = max(0.0, (limits.soc_max_pct - soc) / 100.0 * capacity) / limits.efficiency_charge
    discharge = limits.discharge_max_kw * derate
    charge = limits.charge_max_kw * derate
    hours = duration_s / 3600.0 if math.isfinite(duration_s) else 0.0
    if hours > 0:
        discharge = min(discharge, available / hours)
        charge = min(charge, headroom / hours)
    loads = [v for v in net_load_kw if math.isfinite(v)] or [0.0]
    if limits.grid_export_max_kw is not None:  # p_bess <= net load + export cap
        discharge = min(discharge, min(loads) + limits.grid_export_max_kw)
    if limits.import_cap_kw is not None:  # -p_bess <= import cap - net load
        charge = min(charge, limits.import_cap_kw - max(loads))
    return Flexibility(
        site_id=site_id,
        max_discharge_kw=max(0.0, discharge),
        max_charge_kw=max(0.0, charge),
        duration_s=max(0.0, duration_s),
        available_energy_kwh=available,
        headroom_energy_kwh=headroom,
    )


def materially_changed(
    old: Flexibility | None,
    new: Flexibility,
    share: float = MATERIAL_SHARE,
    floor: float = MATERIAL_KW,
) -> bool:
    """Whether ``new`` differs from the last announced offer enough to announce it again.

    Any power or energy figure moved by more than ``share`` of its old value and at least ``floor``
    (kW or kWh), or the duration changed.
    """
    if old is None or old.site_id != new.site_id or old.duration_s != new.duration_s:
        return True
    pairs = (
        (old.max_discharge_kw, new.max_discharge_kw),
        (old.max_charge_kw, new.max_charge_kw),
        (old.available_energy_kwh, new.available_energy_kwh),
        (old.headroom_energy_kwh, new.headroom_energy_kwh),
    )
    return any(abs(b - a) > max(floor, share * abs(a)) for a, b in pairs)
