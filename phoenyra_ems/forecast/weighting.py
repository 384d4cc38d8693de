"""The ensemble's weighting rules and member helpers (``ensemble.py``): static weights learned on the
validation days (``lad``, ``nnls``, ``inverse_mae``) and the recent-skill weights (docs/forecasting.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog, nnls

from phoenyra_ems.forecast.base import LOGGER, Forecaster, InsufficientHistory


def nnls_weights(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Least squares, weights >= 0."""
    return np.asarray(nnls(x, t)[0])


def lad_weights(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Least absolute deviation, weights >= 0 summing to 1 (a small LP for HiGHS): fits MAE."""
    rows, members = x.shape
    # variables: w (members), e+ (rows), e- (rows); x w + e+ - e- = t; minimise sum(e+ + e-)
    cost = np.concatenate([np.zeros(members), np.ones(2 * rows)])
    eye = sparse.identity(rows, format="csr")
    a_eq = sparse.vstack(
        [
            sparse.hstack([sparse.csr_matrix(x), eye, -eye]),
            sparse.hstack([sparse.csr_matrix(np.ones((1, members))), sparse.csr_matrix((1, 2 * rows))]),
        ]
    )
    result = linprog(cost, A_eq=a_eq, b_eq=np.concatenate([t, [1.0]]), bounds=(0, None), method="highs")
    return np.asarray(result.x[:members]) if result.success else np.ones(members)


def inverse_mae_weights(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    mae = np.mean(np.abs(x - t[:, None]), axis=0)
    return np.asarray(1.0 / np.maximum(mae, 1e-9), dtype=float)


WEIGHTINGS = {"nnls": nnls_weights, "lad": lad_weights, "inverse_mae": inverse_mae_weights}
RECENT = "recent"
BASELINE = "persistence"


def recent_skill_weights(
    mae: np.ndarray,
    names: list[str],
    power: float,
    min_skill: float,
    margin: float = np.inf,
    collapsed: np.ndarray | None = None,
) -> np.ndarray:
    """Weights from each member's recent MAE (members x buckets): inverse MAE^power of the members
    with skill > ``min_skill`` against persistence and within ``margin`` of the best one (none
    with skill: the best member alone). ``collapsed`` (one flag per member): members that failed
    on the last day get no weight (the best of the others takes it), whatever their record."""
    weights = np.zeros_like(mae)
    for b in range(mae.shape[1]):
        col = mae[:, b]
        ok = np.isfinite(col)
        if not ok.any():
            weights[:, b] = np.nan
            continue
        ref = (
            col[names.index(BASELINE)] if BASELINE in names and ok[names.index(BASELINE)] else np.nanmax(col)
        )
        if collapsed is not None and (ok & ~collapsed).any():
            ok = ok & ~collapsed
        best = np.nanmin(np.where(ok, col, np.nan))
        eligible = ok & (col < ref * (1.0 - min_skill)) & (col <= best * (1.0 + margin))
        if not eligible.any():
            eligible = ok & (col == best)
        if np.isinf(power):  # the recent best alone
            eligible = eligible & (col == np.nanmin(np.where(eligible, col, np.nan)))
        w = np.where(eligible, 1.0 / np.maximum(np.where(ok, col, 1.0), 1e-9) ** min(power, 50.0), 0.0)
        weights[:, b] = w / w.sum()
    return weights


def member_forecasts(
    member: Forecaster, past: pd.DataFrame, horizon: int, exog: pd.DataFrame | None
) -> dict[str, np.ndarray]:
    """A member's forecast, and its quantile bands (``"<name>@<q>"``) when it has any."""
    with_bands = getattr(member, "predict_with_bands", None)
    if with_bands is None or not getattr(member, "quantiles", ()):
        return {member.name: np.asarray(member.predict(past, horizon, exog), dtype=float)}
    central, bands = with_bands(past, horizon, exog)
    out = {member.name: np.asarray(central, dtype=float)}
    out.update({f"{member.name}@{q}": np.asarray(b, dtype=float) for q, b in bands.items()})
    return out


def fit_members(members: Sequence[Forecaster], history: pd.DataFrame, stage: str) -> list[Forecaster]:
    fitted = []
    for member in members:
        try:
            member.fit(history)
        except InsufficientHistory as err:
            LOGGER.warning("forecast member %s left out (%s): %s", member.name, stage, err)
        except Exception as err:  # one broken member must not take the ensemble down
            LOGGER.warning("forecast member %s failed to fit (%s): %s", member.name, stage, err)
        else:
            fitted.append(member)
    return fitted
