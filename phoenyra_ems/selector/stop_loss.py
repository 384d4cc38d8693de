"""The daemon's stop-loss on leaving the default arm (the optimiser) between two trainings.

The walk-forward backtest closes its switching gate again once the windows the model took from the
optimiser since the last training lost money (:class:`~phoenyra_ems.core.ai_selection.StopLoss`,
valued as their data lies in the past). The daemon does the same: each window the model switched is
noted with its start state (:class:`SwitchedWindow`); once the window and its continuation
(``label_tail_h``) are history, the worker process values it by counterfactual replay from that
state over the recorded load, PV and prices — the chosen strategy against the optimiser, as the
labels are valued (:func:`value_switches`) — and the gains are booked. The log (the model's
training time, the stop-loss, the windows still to value) lives next to the model
(``selector_site_<id>_stop_loss.json``, replaced atomically), so a restart keeps it for as long as
it keeps the model; a new training starts a fresh one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from phoenyra_ems.atomic import write_atomically
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import StopLoss


def stop_loss_path(history_dir: str | Path, site_id: str) -> Path:
    return Path(history_dir) / f"selector_site_{site_id}_stop_loss.json"


@dataclass(frozen=True, slots=True)
class SwitchedWindow:
    """A window the model took from the default arm, with the state it started from."""

    start_ts: float  # UNIX s of the window's start
    strategy: str
    soc_pct: float
    soh_pct: float
    setpoint_kw: float


@dataclass
class StopLossLog:
    """The stop-loss since the training at ``trained_at`` and the switched windows not valued yet."""

    trained_at: datetime
    state: StopLoss = field(default_factory=StopLoss)
    pending: list[SwitchedWindow] = field(default_factory=list)

    def due(self, history_end_ts: float, window_h: float, tail_h: float) -> list[SwitchedWindow]:
        """The pending windows whose window and continuation lie before ``history_end_ts``."""
        span = (window_h + tail_h) * 3600.0
        return [w for w in self.pending if w.start_ts + span <= history_end_ts]

    def book(self, valued: list[tuple[SwitchedWindow, float]]) -> None:
        """Book the gains of the windows valued (EUR against the default arm) and drop them."""
        self.state = self.state.book([gain for _, gain in valued])
        for window, _ in valued:  # copies from the worker: matched by value
            self.pending.remove(window)

    def to_json(self) -> dict[str, Any]:
        return {
            "trained_at": self.trained_at.isoformat(),
            "state": asdict(self.state),
            "pending": [asdict(w) for w in self.pending],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StopLossLog:
        return cls(
            datetime.fromisoformat(data["trained_at"]),
            StopLoss(**data["state"]),
            [SwitchedWindow(**w) for w in data["pending"]],
        )


def read_log(path: Path, trained_at: datetime) -> StopLossLog:
    """The stored log when it belongs to the model trained at ``trained_at``; else a fresh one."""
    try:
        log = StopLossLog.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return StopLossLog(trained_at)
    return log if log.trained_at == trained_at else StopLossLog(trained_at)


def write_log(path: Path, log: StopLossLog) -> None:
    text = json.dumps(log.to_json(), indent=1).encode()
    write_atomically(path, lambda out: out.write(text))


def value_switches(
    site: SiteConfig, records: list[Any], windows: list[SwitchedWindow], default: str
) -> list[tuple[SwitchedWindow, float]]:
    """In the worker process: per switched window, its strategy's value minus the
    default arm's, EUR — both replayed from the window's recorded start state over the recorded
    history with the label's continuation (:class:`~phoenyra_ems.backtest.counterfactual.WindowReplayer`).
    ``records``: 15-min history buckets from before the windows' month (the month's import peak so
    far, the optimiser's forecast baselines) to after their continuation. Windows the history does
    not cover are left out."""
    from phoenyra_ems.backtest.counterfactual import WindowReplayer, WindowStart
    from phoenyra_ems.history.frames import history_frame
    from phoenyra_ems.selector.training import TRAIN_STEP_S, data_from_history, pool_site

    config = site.strategy.ai_selection
    data = data_from_history(history_frame(records, TRAIN_STEP_S), site.site_id)
    window = max(1, round(config.window_h / data.step_h))
    tail = round(config.label_tail_h / data.step_h)
    replayer = WindowReplayer(pool_site(site), data, window, tail_steps=tail)
    epoch = np.asarray(data.index.as_unit("s").asi8, dtype=np.int64)
    ts = np.array([r.ts for r in records], dtype=float)
    grid = np.array([r.p_grid for r in records], dtype=float)
    zone = ZoneInfo(site.location.timezone)
    gains: list[tuple[SwitchedWindow, float]] = []
    for w in windows:
        i = int(np.searchsorted(epoch, round(w.start_ts)))
        if i >= len(epoch) or epoch[i] != round(w.start_ts) or i + window + tail > len(data):
            continue
        local = datetime.fromtimestamp(w.start_ts, zone)
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
        before = grid[(ts >= month_start) & (ts < w.start_ts)]
        peak = max(0.0, float(before.max())) if len(before) else 0.0
        start = WindowStart(i, w.soc_pct, w.soh_pct, w.setpoint_kw, peak)
        gains.append((w, replayer.value(start, w.strategy) - replayer.value(start, default)))
    return gains
