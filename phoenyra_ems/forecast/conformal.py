"""Conformal calibration of a forecast's quantile band on its own recent out-of-sample errors.

Quantile models of load cover less than they promise out of sample (their P10–P90 band held 70–83 %
of the actual values instead of 80 %, docs/forecasting.md): the trees fit the training days' noise,
and the regime drifts between refits. The split-conformal fix (Romano et al. 2019, "Conformalized
quantile regression") widens — or narrows — each side of the band by the empirical quantile of how
far the actual values fell outside it on recent days the model had not seen: with ``e_lo = lower −
actual`` the lower bound moves down by the ``(1 − α_lo)`` quantile of ``e_lo`` (negative: up), the
same for the upper side with ``actual − upper``. Per side (load is skewed: the evening peaks
overshoot P90, nights rarely undershoot P10) and per horizon bucket (the error grows with the lead
time).
"""

from __future__ import annotations

import numpy as np


def side_offset(excess: np.ndarray, share_outside: float) -> float:
    """How far to move one side of a band so that ``share_outside`` of ``excess`` stays beyond it.

    ``excess`` is how far each actual value lay beyond that side (negative: inside). The quantile
    takes the finite-sample correction of split conformal prediction; NaN (unknown) values are
    skipped; no values: no move.
    """
    values = excess[np.isfinite(excess)]
    n = len(values)
    if n == 0:
        return 0.0
    level = min(1.0, (1.0 - share_outside) * (n + 1) / n)
    return float(np.quantile(values, level))


def calibrate(
    lower: np.ndarray,
    upper: np.ndarray,
    lower_excess: np.ndarray,
    upper_excess: np.ndarray,
    lower_quantile: float,
    upper_quantile: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The band ``lower``/``upper`` moved by the conformal offsets of past ``*_excess`` values.

    ``lower_excess = past lower − past actual``, ``upper_excess = past actual − past upper`` (from
    forecasts the model made before seeing the actual values). Bounds never cross: where the
    offsets would invert the band both sides meet at its middle.
    """
    low = lower - side_offset(lower_excess, lower_quantile)
    high = upper + side_offset(upper_excess, 1.0 - upper_quantile)
    middle = (low + high) / 2.0
    crossed = low > high
    return np.where(crossed, middle, low), np.where(crossed, middle, high)
