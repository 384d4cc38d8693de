"""Cheap built-in forecasts for plans when no forecast service output is available (numpy only).

The same baselines as :mod:`phoenyra_ems.forecast.baselines` (same time of day over the last days,
same time yesterday), on plain arrays so the pure core needs no pandas, and the price fallback
beyond the published day-ahead prices (the same hour one day earlier, repeated).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def profile(history: FloatArray, per_day: int, steps: int, days: int = 7) -> FloatArray:
    """Mean of the same time of day over the last ``days`` days, for ``steps`` steps after ``history``.

    ``history`` ends with the step just before the forecast's first step; NaN are gaps (skipped).
    ``days=1`` is the same-time-yesterday persistence. Too little history: what there is, else 0.
    """
    values = np.asarray(history, dtype=np.float64)
    if steps <= 0:
        return np.zeros(0)
    if per_day <= 0 or values.size == 0:
        return np.zeros(steps)
    j = np.arange(steps) % per_day
    back = np.arange(1, max(days, 1) + 1) * per_day
    idx = values.size + j[:, None] - back[None, :]  # steps x days, all < len(values)
    valid = idx >= 0
    picked = np.where(valid, values[np.clip(idx, 0, values.size - 1)], np.nan)
    finite = np.isfinite(picked)
    counts = finite.sum(axis=1)
    sums = np.where(finite, picked, 0.0).sum(axis=1)
    result: FloatArray = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    if counts.all():  # every step has a value: no fallback needed (it scans the whole history)
        return result
    fallback = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
    out: FloatArray = np.where(np.isfinite(result), result, fallback)
    return out


def extend_prices(past: FloatArray, published: FloatArray, steps: int, per_day: int) -> FloatArray:
    """``steps`` prices from the first published one: published, then the same time a day earlier.

    ``past``: prices of the steps before the first published one (the last day or more). Beyond
    publication each step takes the price of the same time of day on the last known day.
    """
    known = np.concatenate([np.asarray(past, dtype=np.float64), np.asarray(published, dtype=np.float64)])
    first = len(past)
    if steps <= 0:
        return np.zeros(0)
    if known.size == 0:
        return np.zeros(steps)
    out = np.empty(steps)
    have = min(len(published), steps)
    out[:have] = known[first : first + have]
    if have < steps:
        j = np.arange(have, steps) + first  # positions in ``known`` coordinates
        shift = per_day * ((j - known.size) // per_day + 1) if per_day > 0 else j - known.size + 1
        src = j - shift
        src = np.where(src < 0, known.size - 1, src)
        out[have:] = known[src]
    finite = np.isfinite(out)
    if not finite.all():
        out[~finite] = float(np.nanmean(out)) if finite.any() else 0.0
    return out


def scale_to_today(
    forecast: FloatArray,
    observed_today: FloatArray,
    expected_today: FloatArray,
    steps_left_today: int,
    per_day: int,
    clip: tuple[float, float] = (0.2, 1.5),
    min_expected: float = 0.5,
) -> FloatArray:
    """``forecast`` scaled by how today compares with its profile so far (clouds persist).

    The ratio observed / expected over today's past steps (when their sum reaches
    ``min_expected``) scales the rest of today; the next day gets half of the deviation.
    """
    expected = float(np.nansum(expected_today))
    if expected < min_expected or len(observed_today) == 0:
        return forecast
    ratio = float(np.clip(np.nansum(observed_today) / expected, *clip))
    out = np.asarray(forecast, dtype=np.float64).copy()
    left = max(0, min(steps_left_today, len(out)))
    out[:left] *= ratio
    out[left : left + per_day] *= (1 + ratio) / 2
    return out


def with_present(
    forecast: FloatArray, measured: float, step_s: float, decay_h: float, *, relative: bool = False
) -> FloatArray:
    """``forecast`` with its first step replaced by the ``measured`` present, and the present's
    departure from the forecast carried into the next steps with weight exp(-lead / ``decay_h``)
    (0: the first step only). ``relative`` (PV): as a ratio, so that night stays dark; no carry when
    the forecast of the present is below 2 % of the horizon's highest (dawn, dusk, night)."""
    out = np.array(forecast, dtype=np.float64)
    if len(out) == 0:
        return out
    expected = float(out[0])
    out[0] = measured
    if decay_h <= 0 or len(out) < 2 or not np.isfinite(expected):
        return out
    weight = np.exp(-np.arange(1, len(out)) * (step_s / 3600.0) / decay_h)
    if relative:
        if expected < 0.02 * float(np.nanmax(forecast)) or expected <= 0:
            return out
        ratio = min(max(measured / expected, 0.0), 3.0)
        out[1:] = out[1:] * (1.0 + weight * (ratio - 1.0))
    else:
        out[1:] = np.maximum(out[1:] + weight * (measured - expected), 0.0)
    return out
