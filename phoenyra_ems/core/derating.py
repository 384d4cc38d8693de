"""Thermal derating: less power as the battery gets hot, none at the cut-off."""

from __future__ import annotations

DERATE_START_C = 45.0
DERATE_CUTOFF_C = 55.0


def thermal_derate(
    temp_c: float | None, start_c: float = DERATE_START_C, cutoff_c: float = DERATE_CUTOFF_C
) -> float:
    """Power multiplier 0..1: 1 below ``start_c``, falling linearly to 0 at ``cutoff_c``."""
    if temp_c is None or temp_c <= start_c:
        return 1.0
    if temp_c >= cutoff_c:
        return 0.0
    return (cutoff_c - temp_c) / (cutoff_c - start_c)
