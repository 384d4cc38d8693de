"""Ensemble with weights that follow each member's recent error per horizon (not fixed shares).

``fit`` holds back the last ``validation_days`` of the history, fits every member on what comes
before (refitted every ``validation_refit_days`` inside them, as the members are refitted live) and
forecasts each held-back day from the same time of day (rolling origin, the *anchors*); then refits
the members on the whole history. With ``weighting="recent"`` (the default) the weights
are not frozen there: every prediction first forecasts from the anchors that have passed since
(one per day, cached, so it costs one forecast per member and day), scores every member over the
last ``recent_days`` anchors per horizon bucket (each observed step counted 0.5^(age / 5 days): the
last week weighs most), and weights the members by inverse recent MAE² —
a member no better than persistence recently, or more than ``margin`` (5 %) worse than the recent
best, gets no weight (the best one keeps it when none is): averaging a clearly better median
forecast with mean-like baselines costs MAE (tuned on the VDI house in winter, docs/forecasting.md).
So the mix follows the regime (season, holidays, a new heat pump) between refits. A member far
behind on the last day, or (with the site's ``timezone``) on the recent days of the same kind as the
day forecast — its weekday, a public holiday counting as a Sunday — gets no weight there when it is
the worst one (the collapse gate). The static
weightings (``lad``: the non-negative combination summing to 1 that minimises the absolute error on
the validation days; ``nnls``; ``inverse_mae``) stay available. A member that cannot fit (too little
history, a solver failure) or fails to predict drops out and the others' weights are renormalised:
the ensemble answers as long as one member does. ``predict_quantiles``: the P10/P90 band of a member
that has one (gradient boosting with ``quantiles``), calibrated on the anchors' recent out-of-sample
errors (``conformal.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import (
    LOGGER,
    TARGET,
    Forecaster,
    ForecastError,
    InsufficientHistory,
    future_index,
    history_days,
    step_of,
    steps_per_day,
)
from phoenyra_ems.forecast.calendar_features import day_kinds
from phoenyra_ems.forecast.conformal import calibrate
from phoenyra_ems.forecast.weighting import (
    RECENT,
    WEIGHTINGS,
    fit_members,
    inverse_mae_weights,
    lad_weights,
    member_forecasts,
    recent_skill_weights,
)


class Ensemble:
    min_history_days = 1.0
    halflife_days: float | None = 5.0  # also for models pickled before it existed (the daemon's store)
    timezone: str | None = None  # models pickled before the like-days gate: day-blind
    country: str | None = None

    def __init__(
        self,
        members: Sequence[Forecaster],
        *,
        name: str = "ensemble",
        validation_days: int = 21,
        horizon_buckets: int = 4,
        horizon_steps: int | None = None,
        weighting: str = RECENT,
        shrinkage: float = 0.0,
        recent_days: int = 28,
        power: float = 2.0,
        min_skill: float = 0.0,
        margin: float = 0.05,
        combiner: str = "inverse_mae",
        validation_refit_days: int | None = 7,
        collapse_ratio: float | None = 2.0,
        halflife_days: float | None = 5.0,
        timezone: str | None = None,
        country: str | None = None,
    ) -> None:
        if weighting not in WEIGHTINGS and weighting != RECENT:
            raise ValueError(f"weighting must be one of {sorted([*WEIGHTINGS, RECENT])}")
        self.recent_days = recent_days
        self.validation_refit_days = validation_refit_days  # None: one fit before the held-back days
        self.power = power
        self.min_skill = min_skill
        self.margin = margin  # a member more than this worse than the recent best gets no weight
        self.combiner = combiner  # recent weights: "inverse_mae" (^power) or "lad" (among those with skill)
        # A member whose error over the last observed day is more than this times the best member's
        # gets no weight until it recovers, however good its record (None: off). A collapse (gradient
        # boosting fed lags below anything it was trained on) costs more in a day than a month of
        # small gains; the 28-day record would keep its weight for days.
        self.collapse_ratio = collapse_ratio
        # The recent error counts each observed step with weight 0.5^(its age in days / halflife_days)
        # (None: all equal): a holiday or a regime change fades within a week or two instead of
        # dragging the weights for the whole window (tuned on the VDI house in winter among 3–10 days,
        # docs/forecasting.md).
        self.halflife_days = halflife_days
        # The site's zone and public holidays (``timezone`` None: day-blind): the collapse gate also
        # looks at the recent days of the same kind as each forecast day (its weekday, a public
        # holiday counting as a Sunday) and gives no weight there to the worst member when it was
        # more than ``collapse_ratio`` times behind the best on them. A member's record on other
        # kinds of day says little about the target day: persistence repeats yesterday, so on a plant
        # whose Wednesdays differ from its Tuesdays it fails every Wednesday however good its week
        # (the electroplating plant in winter: -9.7 % behind its best member before, +3.1 % ahead
        # after, the tuning set unchanged; docs/forecasting.md).
        self.timezone = timezone
        self.country = country
        self._kind_weights: dict[int, dict[str, np.ndarray]] = {}  # day kind -> like self.weights
        self._weights_key: tuple[object, ...] | None = None
        # Forecasts of each member from past anchors (same time of day, one per day): recent error.
        self._anchors: dict[pd.Timestamp, dict[str, np.ndarray]] = {}
        self._next_anchor: pd.Timestamp | None = None
        self._day = pd.Timedelta(days=1)
        self.weighting = weighting
        self.shrinkage = shrinkage
        self.name = name
        self.members = list(members)
        self.validation_days = validation_days
        self.horizon_buckets = horizon_buckets
        self.horizon_steps = horizon_steps
        self.active: list[Forecaster] = []
        self.weights: dict[str, np.ndarray] = {}  # member name -> weight per horizon bucket
        # ... as the last forecast used them (its day kinds' where the gate took a member out)
        self._used_weights: dict[str, np.ndarray] = {}

    def _bucket(self, steps: int, horizon: int) -> np.ndarray:
        j = np.arange(steps)
        return np.minimum(j * self.horizon_buckets // max(horizon, 1), self.horizon_buckets - 1)

    def fit(self, history: pd.DataFrame) -> None:
        per_day = steps_per_day(step_of(pd.DatetimeIndex(history.index)))
        horizon = self.horizon_steps or 2 * per_day
        needed = max((m.min_history_days for m in self.members), default=0.0) + self.validation_days
        self.weights = {}
        self._kind_weights = {}
        self._used_weights = {}
        self._anchors = {}
        self._day = per_day * step_of(pd.DatetimeIndex(history.index))
        self._next_anchor = pd.Timestamp(history.index[-1]) + step_of(pd.DatetimeIndex(history.index))
        if history_days(history) >= needed:
            self._learn_weights(history, per_day, horizon)
        else:
            LOGGER.warning(
                "%s: %.1f days of history, %g needed to learn weights: equal weights",
                self.name,
                history_days(history),
                needed,
            )
        self.active = fit_members(self.members, history, "final fit")
        if not self.active:
            raise InsufficientHistory(f"{self.name}: no member could fit")
        if self.weighting == RECENT:
            self.weights = self._recent_weights(history, horizon) or self.weights
        learned = bool(self.weights)
        for member in self.active:  # a member without a learned weight gets none (or all equal)
            self.weights.setdefault(
                member.name, np.zeros(self.horizon_buckets) if learned else np.ones(self.horizon_buckets)
            )

    def _learn_weights(self, history: pd.DataFrame, per_day: int, horizon: int) -> None:
        split = len(history) - self.validation_days * per_day
        # Origins at the held-back days' first step, each forecast scored over the horizon.
        origins = [o for o in range(split, len(history) - per_day + 1, per_day)]
        fitted = fit_members(self.members, history.iloc[:split], "weight learning")
        if not fitted:
            return
        # The members are refitted every ``validation_refit_days`` inside the held-back days, as they
        # are live: an anchor forecast by a model 3 weeks older than the one that will serve made
        # gradient boosting look worse than it is after each refit (the ensemble 2 % behind it).
        step_days = self.validation_refit_days or self.validation_days
        refits = set(range(split, len(history), max(1, step_days) * per_day)) - {split}
        predictions: dict[str, list[np.ndarray]] = {m.name: [] for m in fitted}
        bands: list[dict[str, np.ndarray]] = []  # per origin: the quantile bands of members with any
        truths = []
        for origin in origins:
            if origin in refits:
                fitted = fit_members(fitted, history.iloc[:origin], "weight learning") or fitted
            past = history.iloc[:origin]
            truth = history[TARGET].to_numpy(dtype=float)[origin : origin + horizon]
            truth = np.concatenate([truth, np.full(horizon - len(truth), np.nan)])
            truths.append(truth)
            # What the members will get live: the exogenous forecasts (weather, generation) of the
            # horizon; in validation the recorded values stand in for them.
            ahead = history.iloc[origin : origin + horizon].drop(columns=[TARGET])
            exog = ahead if len(ahead.columns) else None
            bands.append({})
            for name in predictions:
                member = next((m for m in fitted if m.name == name), None)
                try:
                    if member is None:
                        raise ForecastError("failed to refit")
                    forecasts = member_forecasts(member, past, horizon, exog)
                except Exception as err:
                    LOGGER.warning("forecast member %s failed in validation: %s", name, err)
                    forecasts = {name: np.full(horizon, np.nan)}
                predictions[name].append(forecasts.pop(name))
                bands[-1].update(forecasts)
        y = np.vstack(truths)
        names = list(predictions)
        for number, origin in enumerate(origins):
            self._anchors[pd.Timestamp(history.index[origin])] = {
                **{n: predictions[n][number] for n in names},
                **bands[number],
            }
        if origins:
            self._next_anchor = pd.Timestamp(history.index[origins[-1]]) + self._day
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
            w = WEIGHTINGS.get(self.weighting, inverse_mae_weights)(x[ok], t[ok])
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
        horizon = self.horizon_steps or 2 * per_day
        buckets = self._bucket(steps, horizon)
        if self.weighting == RECENT:
            self._follow_anchors(history, horizon)
            recent = self._recent_weights(history, horizon)
            if recent:
                self.weights = recent
        by_kind = getattr(self, "_kind_weights", {})  # models pickled before it: day-blind
        kind = np.full(steps, -1)
        if by_kind and self.timezone is not None:
            kind = day_kinds(future_index(history, steps), self.timezone, self.country)

        def weight_of(name: str) -> np.ndarray:
            """The member's weight per step: its day kind's where known, else the day-blind one."""
            weight = self.weights.get(name, np.zeros(self.horizon_buckets))[buckets]
            for c in np.unique(kind):
                if int(c) in by_kind and name in by_kind[int(c)]:
                    weight = np.where(kind == c, by_kind[int(c)][name][buckets], weight)
            return np.asarray(weight, dtype=float)

        step_weights = {m.name: weight_of(m.name) for m in self.active}
        self._used_weights = self._per_bucket(step_weights, buckets)
        total = np.zeros(steps)
        weight_sum = np.zeros(steps)
        answers: list[np.ndarray] = []
        weighted = [m for m in self.active if step_weights[m.name].any()]
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
            weight = step_weights[member.name]
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

    def _follow_anchors(self, history: pd.DataFrame, horizon: int) -> None:
        """Forecast from the anchors that passed since the last call (at most ``recent_days``)."""
        if self._next_anchor is None or not self.active:
            return
        index = pd.DatetimeIndex(history.index)
        last = pd.Timestamp(index[-1])
        earliest = last - self.recent_days * self._day
        if self._next_anchor < earliest:
            self._next_anchor += ((earliest - self._next_anchor) // self._day + 1) * self._day
        while self._next_anchor <= last:
            anchor = self._next_anchor
            self._next_anchor = anchor + self._day
            pos = int(index.searchsorted(anchor))
            if pos >= len(index) or index[pos] != anchor or pos < 2:
                continue
            past = history.iloc[:pos]
            ahead = history.iloc[pos : pos + horizon].drop(columns=[TARGET])
            exog = ahead.reindex(future_index(past, horizon)) if len(ahead.columns) else None
            forecasts = {}
            for member in self.active:
                try:
                    forecasts.update(member_forecasts(member, past, horizon, exog))
                except Exception as err:
                    LOGGER.debug("forecast member %s failed at anchor %s: %s", member.name, anchor, err)
            self._anchors[anchor] = forecasts
        keep = last - (max(self.recent_days, self.validation_days) + 2) * self._day
        for old in [a for a in self._anchors if a < keep]:
            del self._anchors[old]

    def _recent_weights(self, history: pd.DataFrame, horizon: int) -> dict[str, np.ndarray]:
        """Per member and horizon bucket: weights from the errors over the last ``recent_days`` anchors."""
        index = pd.DatetimeIndex(history.index)
        last = pd.Timestamp(index[-1])
        anchors = sorted(a for a in self._anchors if last - self.recent_days * self._day <= a <= last)
        names = [m.name for m in self.active]
        self._kind_weights = {}
        if not anchors or len(names) < 2:
            return {}
        key = (tuple(anchors), tuple(names))
        if self.combiner == "lad" and key == self._weights_key:  # the LP once a day, not every step
            return self.weights
        y = history[TARGET].to_numpy(dtype=float)
        buckets = self._bucket(horizon, horizon)
        rows: list[list[np.ndarray]] = [[] for _ in range(self.horizon_buckets)]
        truths: list[list[np.ndarray]] = [[] for _ in range(self.horizon_buckets)]
        ages: list[list[np.ndarray]] = [[] for _ in range(self.horizon_buckets)]
        kinds: list[list[np.ndarray]] = [[] for _ in range(self.horizon_buckets)]
        observed = last + step_of(index)  # the end of the last observed step
        first = int(index.searchsorted(anchors[0]))
        day_kind = None  # each step's day kind, from the first anchor on (None: day-blind)
        if self.timezone is not None and self.collapse_ratio is not None and self.combiner != "lad":
            day_kind = day_kinds(index[first:], self.timezone, self.country)
        for anchor in anchors:
            pos = int(index.searchsorted(anchor))
            truth = y[pos : pos + horizon]
            n = len(truth)
            forecasts = self._anchors[anchor]
            if n == 0 or any(name not in forecasts for name in names):
                continue
            stacked = np.vstack([forecasts[name][:n] for name in names])  # members x steps
            ok = np.isfinite(stacked).all(axis=0) & np.isfinite(truth)
            age = np.asarray((observed - index[pos : pos + n]) / self._day, dtype=float)  # in days
            kind = day_kind[pos - first : pos - first + n] if day_kind is not None else np.zeros(n, int)
            for b in range(self.horizon_buckets):
                sel = ok & (buckets[:n] == b)
                rows[b].append(stacked[:, sel].T)
                truths[b].append(truth[sel])
                ages[b].append(age[sel])
                kinds[b].append(kind[sel])
        collapsed = self._collapsed(anchors, names, y, index, horizon)
        weights = np.full((len(names), self.horizon_buckets), np.nan)
        for b in range(self.horizon_buckets):
            if not rows[b]:
                continue
            x, t = np.vstack(rows[b]), np.concatenate(truths[b])
            if len(t) < len(names):
                continue
            decay = (
                np.ones(len(t))
                if self.halflife_days is None
                else 0.5 ** (np.concatenate(ages[b]) / self.halflife_days)
            )
            error = np.abs(x - t[:, None])
            mae = decay @ error / decay.sum()
            weights[:, b] = recent_skill_weights(
                mae[:, None], names, self.power, self.min_skill, self.margin, collapsed
            )[:, 0]
            if day_kind is None:
                continue
            kind = np.concatenate(kinds[b])
            present = np.unique(kind)
            of_kind = (kind[None, :] == present[:, None]) * decay[None, :]  # kinds x steps
            like_mae = of_kind @ error / of_kind.sum(axis=1)[:, None]  # kinds x members
            enough = (kind[None, :] == present[:, None]).sum(axis=1) >= int(np.sum(buckets == b))
            base = collapsed if collapsed is not None else np.zeros(len(names), dtype=bool)
            for c, row, known in zip(present, like_mae, enough, strict=True):  # the gate per kind
                gone = self._behind(row)
                if not known or not (gone & ~base).any():
                    continue  # too few days of that kind, or no one beyond the day-blind gate
                table = self._kind_weights.setdefault(
                    int(c), {n: np.full(self.horizon_buckets, np.nan) for n in names}
                )
                w = recent_skill_weights(
                    mae[:, None], names, self.power, self.min_skill, self.margin, gone | base
                )
                for i, name in enumerate(names):
                    table[name][b] = w[i, 0]
            if self.combiner == "lad":  # the MAE-optimal mix of the members with recent skill
                keep = weights[:, b] > 0
                if keep.sum() > 1:
                    w = np.zeros(len(names))
                    w[keep] = lad_weights(x[:, keep], t)
                    weights[:, b] = w / w.sum() if w.sum() > 0 else weights[:, b]
        if np.isnan(weights).all():
            self._kind_weights = {}
            return {}
        for b in range(self.horizon_buckets):  # a bucket not scored yet: the nearest earlier one
            if np.isnan(weights[:, b]).any():
                weights[:, b] = weights[:, b - 1] if b > 0 else np.ones(len(names)) / len(names)
        for table in self._kind_weights.values():  # a bucket without days of that kind: day-blind
            for i, name in enumerate(names):
                table[name] = np.where(np.isnan(table[name]), weights[i], table[name])
        self._weights_key = key
        return {name: weights[i] for i, name in enumerate(names)}

    def _behind(self, mae: np.ndarray) -> np.ndarray:
        """Per member: the worst one, and more than ``collapse_ratio`` times the best one's ``mae``."""
        if not np.isfinite(mae).any() or self.collapse_ratio is None:
            return np.zeros(len(mae), dtype=bool)
        return np.asarray(~(mae <= self.collapse_ratio * np.nanmin(mae)) & (mae == np.nanmax(mae)))

    def _collapsed(
        self,
        anchors: list[pd.Timestamp],
        names: list[str],
        y: np.ndarray,
        index: pd.DatetimeIndex,
        horizon: int,
    ) -> np.ndarray | None:
        """Per member: its MAE over the last observed day (every anchor's forecast of it, the whole
        horizon pooled) is more than ``collapse_ratio`` times the best member's, and it is the worst
        member that day: a collapse is one member failing where the others did not. When several
        members are that far behind, the best one had a lucky day (a baseline on a plant's off-day,
        a quiet Sunday), and handing it the weight cost the electroplating plant 15 points in summer
        (docs/forecasting.md): the record decides then. None: not known yet."""
        if self.collapse_ratio is None:
            return None
        first = len(y) - round(self._day / step_of(index))  # the last day's first step
        errors: list[list[np.ndarray]] = [[] for _ in names]
        for anchor in anchors:
            pos = int(index.searchsorted(anchor))
            lo, hi = max(pos, first), min(pos + horizon, len(y))
            forecasts = self._anchors[anchor]
            if lo >= hi or any(name not in forecasts for name in names):
                continue
            for i, name in enumerate(names):
                errors[i].append(forecasts[name][lo - pos : hi - pos] - y[lo:hi])
        if not errors[0]:
            return None
        pooled = [np.abs(np.concatenate(e)) for e in errors]
        mae = np.array([p[np.isfinite(p)].mean() if np.isfinite(p).any() else np.nan for p in pooled])
        if not np.isfinite(mae).any():
            return None
        return self._behind(mae)

    def predict_quantiles(
        self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None
    ) -> dict[float, np.ndarray]:
        """P10/P90 (the quantiles of the first member that has bands, e.g. ``gbm``), each side moved by
        the conformal offset of its recent out-of-sample errors per horizon bucket (``conformal.py``).
        ``{}`` when no member has bands; the raw bands until an anchor has been scored."""
        member = next(
            (m for m in self.active if getattr(m, "quantiles", ()) and hasattr(m, "predict_with_bands")), None
        )
        if member is None:
            return {}
        _, raw = member.predict_with_bands(history, steps, exog)
        if len(raw) != 2:
            return dict(raw)
        (q_low, low), (q_high, high) = sorted(raw.items())
        horizon = self.horizon_steps or 2 * steps_per_day(step_of(pd.DatetimeIndex(history.index)))
        if self.weighting == RECENT:
            self._follow_anchors(history, horizon)
        excess = self._band_excess(history, f"{member.name}@{q_low}", f"{member.name}@{q_high}")
        buckets = self._bucket(steps, horizon)
        out_low, out_high = low.copy(), high.copy()
        for b in range(self.horizon_buckets):
            sel = buckets == b
            if sel.any() and b in excess:
                out_low[sel], out_high[sel] = calibrate(
                    low[sel], high[sel], excess[b][0], excess[b][1], q_low, q_high
                )
        return {q_low: out_low, q_high: out_high}

    def _band_excess(
        self, history: pd.DataFrame, low_key: str, high_key: str
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per horizon bucket: how far the actual values lay below the lower / above the upper band
        of the anchors in the last ``recent_days`` (only the steps already observed)."""
        index = pd.DatetimeIndex(history.index)
        last = pd.Timestamp(index[-1])
        y = history[TARGET].to_numpy(dtype=float)
        lows: dict[int, list[np.ndarray]] = {}
        highs: dict[int, list[np.ndarray]] = {}
        for anchor in sorted(self._anchors):
            forecasts = self._anchors[anchor]
            if not last - self.recent_days * self._day <= anchor <= last or low_key not in forecasts:
                continue
            pos = int(index.searchsorted(anchor))
            truth = y[pos : pos + len(forecasts[low_key])]
            n = len(truth)
            buckets = self._bucket(n, len(forecasts[low_key]))
            for b in np.unique(buckets):
                sel = buckets == b
                lows.setdefault(int(b), []).append(forecasts[low_key][:n][sel] - truth[sel])
                highs.setdefault(int(b), []).append(truth[sel] - forecasts[high_key][:n][sel])
        return {b: (np.concatenate(lows[b]), np.concatenate(highs[b])) for b in lows}

    def _per_bucket(self, step_weights: dict[str, np.ndarray], buckets: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's share of the weight per horizon bucket, averaged over the bucket's steps."""
        total = np.sum(list(step_weights.values()), axis=0) if step_weights else np.zeros(len(buckets))
        used = {}
        for name, weight in step_weights.items():
            share = np.divide(weight, total, out=np.zeros(len(weight)), where=total > 0)
            fallback = self.weights.get(name, np.zeros(self.horizon_buckets))
            used[name] = np.array(
                [
                    share[buckets == b].mean() if (buckets == b).any() else fallback[b]
                    for b in range(self.horizon_buckets)
                ]
            )
        return used

    def member_weights(self) -> dict[str, list[float]]:
        """Each member's weight per horizon bucket: as the last forecast used them (the target days'
        kinds, where the collapse gate took a member out on that kind of day), before any forecast
        the day-blind weights of the fit."""
        weights = getattr(self, "_used_weights", None) or self.weights  # pickled before it: day-blind
        return {name: [round(float(w), 3) for w in values] for name, values in weights.items()}
