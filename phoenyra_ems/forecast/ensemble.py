"""Ensemble with weights learned from rolling backtest error per horizon (not fixed shares).

``fit`` holds back the last ``validation_days`` of the history, fits every member on what comes
before, forecasts each held-back day from its midnight (rolling origin) and learns, per horizon
bucket, the non-negative combination of the members that minimises the squared error (NNLS,
normalised to sum 1); then refits the members on the whole history. A member that cannot fit (too
little history, a solver failure) or fails to predict drops out and the others' weights are
renormalised: the ensemble answers as long as one member does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog, nnls

from phoenyra_ems.forecast.base import (
    LOGGER,
    TARGET,
    Forecaster,
    ForecastError,
    InsufficientHistory,
    history_days,
    step_of,
    steps_per_day,
)


def _nnls_weights(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Least squares, weights >= 0."""
    return np.asarray(nnls(x, t)[0])


def _lad_weights(x: np.ndarray, t: np.ndarray) -> np.ndarray:
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


def _inverse_mae_weights(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    mae = np.mean(np.abs(x - t[:, None]), axis=0)
    return np.asarray(1.0 / np.maximum(mae, 1e-9), dtype=float)


WEIGHTINGS = {"nnls": _nnls_weights, "lad": _lad_weights, "inverse_mae": _inverse_mae_weights}


def _fit_members(members: Sequence[Forecaster], history: pd.DataFrame, stage: str) -> list[Forecaster]:
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


class Ensemble:
    min_history_days = 1.0

    def __init__(
        self,
        members: Sequence[Forecaster],
        *,
        name: str = "ensemble",
        validation_days: int = 21,
        horizon_buckets: int = 4,
        horizon_steps: int | None = None,
        weighting: str = "lad",
        shrinkage: float = 0.0,
    ) -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {sorted(WEIGHTINGS)}")
        self.weighting = weighting
        self.shrinkage = shrinkage
        self.name = name
        self.members = list(members)
        self.validation_days = validation_days
        self.horizon_buckets = horizon_buckets
        self.horizon_steps = horizon_steps
        self.active: list[Forecaster] = []
        self.weights: dict[str, np.ndarray] = {}  # member name -> weight per horizon bucket

    def _bucket(self, steps: int, horizon: int) -> np.ndarray:
        j = np.arange(steps)
        return np.minimum(j * self.horizon_buckets // max(horizon, 1), self.horizon_buckets - 1)

    def fit(self, history: pd.DataFrame) -> None:
        per_day = steps_per_day(step_of(pd.DatetimeIndex(history.index)))
        horizon = self.horizon_steps or 2 * per_day
        needed = max((m.min_history_days for m in self.members), default=0.0) + self.validation_days
        self.weights = {}
        if history_days(history) >= needed:
            self._learn_weights(history, per_day, horizon)
        else:
            LOGGER.warning(
                "%s: %.1f days of history, %g needed to learn weights: equal weights",
                self.name,
                history_days(history),
                needed,
            )
        self.active = _fit_members(self.members, history, "final fit")
        if not self.active:
            raise InsufficientHistory(f"{self.name}: no member could fit")
        learned = bool(self.weights)
        for member in self.active:  # a member without a learned weight gets none (or all equal)
            self.weights.setdefault(
                member.name, np.zeros(self.horizon_buckets) if learned else np.ones(self.horizon_buckets)
            )

    def _learn_weights(self, history: pd.DataFrame, per_day: int, horizon: int) -> None:
        split = len(history) - self.validation_days * per_day
        # Origins at the held-back days' first step, each forecast scored over the horizon.
        origins = [o for o in range(split, len(history) - per_day + 1, per_day)]
        train = history.iloc[:split]
        fitted = _fit_members(self.members, train, "weight learning")
        if not fitted:
            return
        predictions: dict[str, list[np.ndarray]] = {m.name: [] for m in fitted}
        truths = []
        for origin in origins:
            past = history.iloc[:origin]
            truth = history[TARGET].to_numpy(dtype=float)[origin : origin + horizon]
            truth = np.concatenate([truth, np.full(horizon - len(truth), np.nan)])
            truths.append(truth)
            # What the members will get live: the exogenous forecasts (weather, generation) of the
            # horizon; in validation the recorded values stand in for them.
            ahead = history.iloc[origin : origin + horizon].drop(columns=[TARGET])
            exog = ahead if len(ahead.columns) else None
            for member in fitted:
                try:
                    predictions[member.name].append(member.predict(past, horizon, exog))
                except Exception as err:
                    LOGGER.warning("forecast member %s failed in validation: %s", member.name, err)
                    predictions[member.name].append(np.full(horizon, np.nan))
        y = np.vstack(truths)
        names = [m.name for m in fitted]
        stacked = np.stack([np.vstack(predictions[n]) for n in names], axis=-1)  # origin, step, member
        buckets = self._bucket(horizon, horizon)
        weights = np.zeros((len(names), self.horizon_buckets))
        for b in range(self.horizon_buckets):
            x = stacked[:, buckets == b, :].reshape(-1, len(names))
            t = y[:, buckets == b].ravel()
            ok = np.isfinite(t) & np.isfinite(x).all(axis=1)
            if ok.sum() < len(names):
                weights[:, b] = 1.0
                continue
            w = WEIGHTINGS[self.weighting](x[ok], t[ok])
            w = w / w.sum() if w.sum() > 0 else np.ones(len(names)) / len(names)
            weights[:, b] = (1 - self.shrinkage) * w + self.shrinkage / len(names)
        self.weights = {n: weights[i] for i, n in enumerate(names)}
        LOGGER.info(
            "%s weights per horizon bucket: %s",
            self.name,
            {n: np.round(w, 2).tolist() for n, w in self.weights.items()},
        )

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        if not self.active:
            raise ForecastError(f"{self.name}: not fitted")
        per_day = steps_per_day(step_of(pd.DatetimeIndex(history.index)))
        buckets = self._bucket(steps, self.horizon_steps or 2 * per_day)
        total = np.zeros(steps)
        weight_sum = np.zeros(steps)
        answers: list[np.ndarray] = []
        weighted = [m for m in self.active if self.weights.get(m.name, np.zeros(1)).any()]
        unweighted = [m for m in self.active if m not in weighted]
        for member in weighted + unweighted:
            if member in unweighted and weight_sum.all():
                break  # the weighted members covered every step
            try:
                values = np.asarray(member.predict(history, steps, exog), dtype=float)
            except Exception as err:
                LOGGER.warning("forecast member %s failed to predict: %s", member.name, err)
                continue
            answers.append(values)
            weight = self.weights.get(member.name, np.zeros(self.horizon_buckets))[buckets]
            ok = np.isfinite(values)
            total[ok] += weight[ok] * values[ok]
            weight_sum[ok] += weight[ok]
        if not answers:
            raise ForecastError(f"{self.name}: every member failed")
        uncovered = weight_sum == 0
        if uncovered.any():  # the weighted members failed there: equal weights over those that answered
            with np.errstate(invalid="ignore"):
                fallback = np.nanmean(np.vstack(answers), axis=0)
            total[uncovered], weight_sum[uncovered] = fallback[uncovered], 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            result = total / weight_sum
        if not np.isfinite(result).all():  # steps no member covered: carry the neighbours
            result = pd.Series(result).ffill().bfill().to_numpy()
        return result

    def member_weights(self) -> dict[str, list[float]]:
        return {name: [round(float(w), 3) for w in weights] for name, weights in self.weights.items()}
