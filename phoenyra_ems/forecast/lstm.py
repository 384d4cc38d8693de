"""LSTM (PyTorch, CPU): an optional, opt-in experiment for household load, not an ensemble member.

A small direct multi-horizon network. Input: the last 7 days before the origin (z-scored), fed to
a one-layer LSTM as 7 steps of one day each (the day's values and its day-off flags), plus the
calendar of the horizon (day-off flag of every target step, time of day and day of year of the
origin, weekday of the first target step). Output: every step of the horizon at once, as a
correction of the mean daily profile of the last 7 days (a residual over ``profile_7d``).

Trained with Adam on one sample per origin (every ``origin_every_h`` hours) with an L1 loss (the
benchmark scores MAE), masked where the target is missing; the last ``validation_days`` of origins
are held back for early stopping and the best epoch's weights are kept. ``members`` networks with
consecutive seeds are averaged (a seed ensemble: one network alone varies by ~2 % MAE from seed to
seed). Fixed seeds; ``threads`` sets PyTorch's (process-wide) thread count, 1 by default.

PyTorch is not a project dependency: it is imported on first use, and a missing install raises
:class:`~phoenyra_ems.forecast.base.ForecastError`. See ``docs/lstm.md`` for the benchmark.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import (
    TARGET,
    ForecastError,
    InsufficientHistory,
    future_index,
    require_history,
    step_of,
    steps_per_day,
)
from phoenyra_ems.forecast.calendar_features import calendar_features

LOOKBACK_DAYS = 7


def _torch() -> Any:
    """The ``torch`` module, or ForecastError when PyTorch is not installed."""
    try:
        return importlib.import_module("torch")
    except ImportError as err:
        raise ForecastError(
            "LstmForecaster needs PyTorch (CPU build), which is not a dependency of phoenyra-ems: "
            "install it with `pip install torch --index-url https://download.pytorch.org/whl/cpu`"
        ) from err


def _network(torch: Any, per_day: int, horizon: int, calendar_dim: int, hidden: int, dropout: float) -> Any:
    """The network: LSTM over the lookback days, MLP head on its last state and the calendar."""
    nn = torch.nn
    module: Any = nn.Module

    class _Net(module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(2 * per_day, hidden, batch_first=True)
            self.head = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(hidden + calendar_dim, 2 * hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(2 * hidden, horizon),
            )

        def forward(self, days: Any, calendar: Any, profile: Any) -> Any:
            _, (state, _) = self.lstm(days)
            return profile + self.head(torch.cat([state[-1], calendar], dim=1))

    return _Net()


class LstmForecaster:
    """Day-ahead load from the last week: fits a year of hourly data in seconds on one CPU thread."""

    def __init__(
        self,
        name: str = "lstm",
        *,
        timezone: str = "Europe/Berlin",
        country: str | None = "DE",
        horizon_steps: int | None = None,
        hidden: int = 32,
        window_days: float = 365.0,
        origin_every_h: float = 1.0,
        validation_days: int = 28,
        max_epochs: int = 40,
        patience: int = 5,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        seed: int = 0,
        members: int = 5,
        threads: int | None = 1,
    ) -> None:
        self.name = name
        # the lookback, at least two weeks of training origins and the held-back tail
        self.min_history_days = float(LOOKBACK_DAYS + 14 + validation_days)
        self.timezone = timezone
        self.country = country
        self.horizon_steps = horizon_steps
        self.hidden = hidden
        self.window_days = window_days
        self.origin_every_h = origin_every_h
        self.validation_days = validation_days
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.seed = seed
        self.threads = threads
        self.members = members
        self.epochs: list[tuple[int, int]] = []  # (epochs run, best epoch) of each network
        self._nets: list[Any] = []
        self._horizon = 0
        self._mean = 0.0
        self._scale = 1.0

    # --- features -------------------------------------------------------------------------------

    def _calendar(self, index: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        frame = calendar_features(index, self.timezone, self.country)
        hour = frame["hour"].to_numpy()
        return {
            "day_off": frame["day_off"].to_numpy(),
            "hour_sin": np.sin(2 * np.pi * hour / 24),
            "hour_cos": np.cos(2 * np.pi * hour / 24),
            "doy_sin": frame["doy_sin"].to_numpy(),
            "doy_cos": frame["doy_cos"].to_numpy(),
            "weekday": frame["weekday"].to_numpy().astype(int),
        }

    def _samples(
        self, values: np.ndarray, calendar: dict[str, np.ndarray], origins: np.ndarray, per_day: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model inputs for forecasts from ``origins`` (positions): days, calendar, profile."""
        lookback, horizon = LOOKBACK_DAYS * per_day, self._horizon
        past = origins[:, None] + np.arange(-lookback, 0)[None, :]
        scaled = (values[past] - self._mean) / self._scale
        recent = scaled.reshape(len(origins), LOOKBACK_DAYS, per_day)
        with np.errstate(all="ignore"):
            profile = np.nanmean(recent, axis=1)
        profile = np.nan_to_num(profile, nan=0.0)
        filled = np.where(np.isnan(recent), profile[:, None, :], recent)
        off = calendar["day_off"][past].reshape(len(origins), LOOKBACK_DAYS, per_day)
        days = np.concatenate([filled, off], axis=2)
        # The horizon's calendar: positions past the data's end only occur at prediction time,
        # where ``calendar`` already covers the future.
        target = origins[:, None] + np.arange(horizon)[None, :]
        cal = np.concatenate(
            [
                calendar["day_off"][target],
                np.stack([calendar[k][origins] for k in ("hour_sin", "hour_cos", "doy_sin", "doy_cos")], 1),
                np.eye(7)[calendar["weekday"][origins]],
            ],
            axis=1,
        )
        return (
            days.astype(np.float32),
            cal.astype(np.float32),
            np.tile(profile, (1, -(-horizon // per_day)))[:, :horizon].astype(np.float32),
        )

    # --- protocol -------------------------------------------------------------------------------

    def fit(self, history: pd.DataFrame) -> None:
        """Train on up to ``window_days`` of history (early stopping on its last ``validation_days``)."""
        require_history(history, self.min_history_days, self.name)
        torch = _torch()
        if self.threads is not None:
            torch.set_num_threads(self.threads)

        index = pd.DatetimeIndex(history.index)
        per_day = steps_per_day(step_of(index))
        history = history.iloc[-round(self.window_days * per_day) :]
        index = pd.DatetimeIndex(history.index)
        values = history[TARGET].to_numpy(dtype=float)
        self._horizon = self.horizon_steps or 2 * per_day
        self._mean = float(np.nanmean(values))
        self._scale = float(np.nanstd(values)) or 1.0

        lookback, horizon = LOOKBACK_DAYS * per_day, self._horizon
        stride = max(1, round(self.origin_every_h * per_day / 24))
        origins = np.arange(lookback, len(values) - horizon + 1, stride)
        split = len(values) - self.validation_days * per_day
        train, valid = origins[origins + horizon <= split], origins[origins >= split]
        if len(train) < self.batch_size or len(valid) == 0:
            raise InsufficientHistory(f"{self.name}: too little history for training and validation")

        calendar = self._calendar(index)
        tensors: dict[str, list[Any]] = {}
        self.epochs = []
        for part, chosen in (("train", train), ("valid", valid)):
            days, cal, profile = self._samples(values, calendar, chosen, per_day)
            target = (values[chosen[:, None] + np.arange(horizon)[None, :]] - self._mean) / self._scale
            tensors[part] = [torch.from_numpy(a) for a in (days, cal, profile, target.astype(np.float32))]

        self._nets = [self._train(torch, tensors, per_day, self.seed + k) for k in range(self.members)]

    def _train(self, torch: Any, tensors: dict[str, list[Any]], per_day: int, seed: int) -> Any:
        """One network, Adam with early stopping: the weights of the best validation epoch."""
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        train, valid = tensors["train"], tensors["valid"]
        net = _network(torch, per_day, self._horizon, train[1].shape[1], self.hidden, self.dropout)
        optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)

        def loss_of(days: Any, cal: Any, profile: Any, target: Any) -> Any:
            known = ~torch.isnan(target)
            error = (net(days, cal, profile) - torch.nan_to_num(target)).abs()
            return (error * known).sum() / known.sum().clamp(min=1)

        best, best_state, stale, best_epoch = float("inf"), None, 0, 0
        for epoch in range(1, self.max_epochs + 1):
            net.train()
            order = rng.permutation(len(train[0]))
            for start in range(0, len(order), self.batch_size):
                batch = torch.from_numpy(order[start : start + self.batch_size])
                optimiser.zero_grad()
                loss_of(*(t[batch] for t in train)).backward()
                optimiser.step()
            net.eval()
            with torch.no_grad():
                score = float(loss_of(*valid))
            if score < best - 1e-4:
                best, stale, best_epoch = score, 0, epoch
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        self.epochs.append((epoch, best_epoch))
        if best_state is None:
            raise ForecastError(f"{self.name}: training diverged (no finite validation loss)")
        net.load_state_dict(best_state)
        net.eval()
        return net

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        """``steps`` (at most the trained horizon) values after ``history``; ``exog`` is unused."""
        if not self._nets:
            raise ForecastError(f"{self.name}: not fitted")
        if steps > self._horizon:
            raise ForecastError(f"{self.name}: trained for {self._horizon} steps, asked for {steps}")
        torch = _torch()
        index = pd.DatetimeIndex(history.index)
        per_day = steps_per_day(step_of(index))
        lookback = LOOKBACK_DAYS * per_day
        if len(history) < lookback:
            raise ForecastError(f"{self.name}: needs {LOOKBACK_DAYS} days of recent history")
        recent = history.iloc[-lookback:]
        values = np.concatenate([recent[TARGET].to_numpy(dtype=float), np.full(self._horizon, np.nan)])
        times = pd.DatetimeIndex(recent.index).append(future_index(recent, self._horizon))
        inputs = self._samples(values, self._calendar(times), np.array([lookback]), per_day)
        with torch.no_grad():
            tensors = [torch.from_numpy(a) for a in inputs]
            scaled = np.mean([net(*tensors).numpy()[0] for net in self._nets], axis=0)
        return np.asarray(scaled[:steps] * self._scale + self._mean, dtype=float)
