"""The controller attachment for AI strategy selection (``strategy.selection_mode``, ``ai_selection``).

On start it loads the site's model (``<history_dir>/selector_site_<id>.pkl``); a missing, corrupt or
stale model is (re)trained from the site's history in the worker process the forecasts use — never
on the event loop — and stored atomically, so a restart chooses at once. The controller asks
:meth:`SiteSelector.choose` every cycle: at each window's start the model picks a strategy (pinned
for the window) or, untrained / not confident / on a score day of the A/B test, leaves the choice
to the score-based selection. The A/B log (arm, windows the model decided, switches per local day)
is kept next to the model (``selector_site_<id>_ab.json``, replaced atomically). With the optimiser
as the default arm, the stop-loss (:mod:`phoenyra_ems.selector.stop_loss`) values the windows the
model switched once their data is past (in the worker, hourly) and closes switching until the next
training when they lost money, as the walk-forward backtest does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from phoenyra_ems.atomic import write_atomically
from phoenyra_ems.client.selector import (
    AbAdvantage,
    AbTest,
    ChoiceSource,
    SelectionMode,
    SelectorChoice,
    SelectorStatus,
    SelectorSwitching,
)
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import (
    FORECAST_HOURS,
    ab_arm,
    build_features,
)
from phoenyra_ems.core.decision import Decision
from phoenyra_ems.core.strategies import PriceSlot
from phoenyra_ems.models import PlantState
from phoenyra_ems.selector.stop_loss import (
    StopLossLog,
    SwitchedWindow,
    read_log,
    stop_loss_path,
    value_switches,
    write_log,
)
from phoenyra_ems.selector.store import SelectorFileError, labels_path, load, save, selector_path
from phoenyra_ems.selector.training import TRAIN_STEP_S, StoredSelector, TrainSummary
from phoenyra_ems.tasks import cancel_and_wait

if TYPE_CHECKING:
    from phoenyra_ems.controller import SiteController

LOGGER = logging.getLogger("phoenyra_ems.selector")
CHECK_EVERY_S = 3600.0
RETRY_AFTER_FAILURE_S = 3600.0
MAX_TRAINING_DAYS = 365
AB_EVAL_MAX_DAYS = 90  # the A/B advantage is valued over the last days of the log
STOP_LOSS_HISTORY_DAYS = 8  # history before a switched window: the optimiser's forecast baselines


def ab_log_path(history_dir: str | Path, site_id: str) -> Path:
    return Path(history_dir) / f"selector_site_{site_id}_ab.json"


def fit_and_store(site: SiteConfig, records: list[Any], path: str, now: datetime) -> TrainSummary:
    """In the worker process: history records → labels → model file (atomically)."""
    from phoenyra_ems.history.frames import history_frame
    from phoenyra_ems.selector.training import data_from_history, train_site_selector

    data = data_from_history(history_frame(records, TRAIN_STEP_S), site.site_id)
    stored = train_site_selector(site, data, now, labels_path=labels_path(site.ems.history_dir, site.site_id))
    save(Path(path), stored)
    return stored.summary


def evaluate_ab(
    site: SiteConfig, records: list[Any], path: str, ab_log: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """In the worker process: the A/B advantage over the logged whole days (``selector report``)."""
    from phoenyra_ems.history.frames import history_frame
    from phoenyra_ems.selector.report import ab_summary, day_values
    from phoenyra_ems.selector.training import data_from_history

    data = data_from_history(history_frame(records, TRAIN_STEP_S), site.site_id)
    return ab_summary(day_values(site, data, load(Path(path)), ab_log))


@dataclass
class CurrentChoice:
    window_start: datetime
    strategy: str | None
    confidence: float | None
    source: str  # ai | score | fixed
    reason: str
    arm: str | None


class SiteSelector:
    """Keeps a site's selector trained and answers the controller's "which strategy now?"."""

    def __init__(self, site: SiteConfig, executor: Executor) -> None:
        self.site = site
        self.config = site.strategy
        self.executor = executor
        self.path = selector_path(site.ems.history_dir, site.site_id)
        self.ab_path = ab_log_path(site.ems.history_dir, site.site_id)
        self.stop_loss_path = stop_loss_path(site.ems.history_dir, site.site_id)
        self.stop_loss: StopLossLog | None = None  # since the stored model's training
        self.stored: StoredSelector | None = None
        self.current: CurrentChoice | None = None
        self.last_error: str | None = None
        self.ab_log: dict[str, dict[str, Any]] = {}
        self._zone = ZoneInfo(site.location.timezone)
        self._window = timedelta(hours=site.strategy.ai_selection.window_h)
        self._profile: tuple[np.ndarray, np.ndarray] | None = None  # mean load, PV per local hour
        self._controller: SiteController | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry_at: datetime | None = None
        self._last_strategy: str | None = None
        self.ab_advantage: dict[str, Any] | None = None  # the A/B advantage in EUR (evaluate_ab)
        self._ab_day: date | None = None  # the local day the advantage was last valued

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self, controller: SiteController) -> None:
        self._controller = controller
        controller.strategy_chooser = self.choose
        await self.load_stored()
        if self.config.uses_ai:
            self._task = asyncio.create_task(self._run(), name=f"selector {self.site.site_id}")

    async def load_stored(self) -> None:
        """The model, its stop-loss log and the A/B log as a restart finds them (a corrupt model is
        retrained by :meth:`_run`)."""
        if self.path.exists():
            try:
                self.stored = await asyncio.to_thread(load, self.path)
                LOGGER.info("site %s: strategy selector loaded from %s", self.site.site_id, self.path)
                trained_at = self.stored.summary.trained_at
                self.stop_loss = await asyncio.to_thread(read_log, self.stop_loss_path, trained_at)
            except SelectorFileError as err:
                LOGGER.warning("site %s: %s: retraining", self.site.site_id, err)
        if self.ab_path.exists():
            with contextlib.suppress(OSError, ValueError):
                self.ab_log = json.loads(await asyncio.to_thread(self.ab_path.read_text))

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task, f"selector service of site {self.site.site_id}")
            self._task = None
        await asyncio.to_thread(self._write_ab_log)
        await asyncio.to_thread(self._write_stop_loss)

    def _due(self, now: datetime) -> bool:
        if self._retry_at is not None and now < self._retry_at:
            return False
        if self.stored is None:
            return True
        interval = timedelta(days=self.config.ai_selection.retrain_interval_days)
        return now - self.stored.summary.trained_at >= interval

    async def _run(self) -> None:
        assert self._controller is not None
        clock = self._controller.clock
        while True:
            now = clock.now()
            if self._due(now):
                try:
                    await self.retrain()
                    self._retry_at = None
                except Exception as err:
                    self.last_error = str(err)
                    LOGGER.warning("site %s: selector training failed: %s", self.site.site_id, err)
                    self._retry_at = now + timedelta(seconds=RETRY_AFTER_FAILURE_S)
            await asyncio.to_thread(self._write_ab_log)
            try:
                await self.value_ab(now)
            except Exception as err:
                LOGGER.warning("site %s: A/B valuation failed: %s", self.site.site_id, err)
            try:
                await self.check_stop_loss(now)
            except Exception as err:
                LOGGER.warning("site %s: stop-loss valuation failed: %s", self.site.site_id, err)
            await clock.sleep(CHECK_EVERY_S)

    async def retrain(self) -> TrainSummary | None:
        """Read the history, label and fit in the worker process, load the new model."""
        from phoenyra_ems.history.frames import read_buckets

        controller = self._controller
        assert controller is not None
        if controller.history is None:
            raise RuntimeError("the site keeps no history to learn from")
        now = controller.clock.now()
        await controller.history.flush()
        end = datetime.fromtimestamp(now.timestamp() // TRAIN_STEP_S * TRAIN_STEP_S, UTC)
        records = await read_buckets(
            controller.history.path, end - timedelta(days=MAX_TRAINING_DAYS), end, TRAIN_STEP_S
        )
        days = len(records) * TRAIN_STEP_S / 86400.0
        needed = self.config.ai_selection.training_data_days
        if days < needed:
            LOGGER.info(
                "site %s: AI selection waits for history: %.1f of %d days; the score-based selection decides",
                self.site.site_id,
                days,
                needed,
            )
            self._retry_at = now + timedelta(seconds=RETRY_AFTER_FAILURE_S)
            return None
        self._profile = await asyncio.to_thread(_hourly_profile, records, self._zone)
        try:
            future = await asyncio.to_thread(
                self.executor.submit, fit_and_store, self.site, records, str(self.path), now
            )
            summary: TrainSummary = await asyncio.wrap_future(future)
        except BrokenProcessPool as err:
            raise RuntimeError(f"the worker process died ({err}); retrying later") from err
        self.stored = await asyncio.to_thread(load, self.path)
        self.stop_loss = StopLossLog(self.stored.summary.trained_at)  # afresh at each training
        await asyncio.to_thread(self._write_stop_loss)
        self.current = None  # the new model decides at the next cycle, not only at the next window
        self.last_error = None
        LOGGER.info(
            "site %s: strategy selector trained on %d windows (%s) in %.1f s",
            self.site.site_id,
            summary.samples,
            ", ".join(f"{k} {v}" for k, v in summary.label_counts.items()),
            summary.train_s,
        )
        return summary

    async def value_ab(self, now: datetime) -> dict[str, Any] | None:
        """Once per local day: value the finished days of the A/B log by counterfactual replay in
        the worker process (the advantage the API and Home Assistant show)."""
        controller = self._controller
        today = now.astimezone(self._zone).date()
        stored = self.stored
        if (
            not self.config.ai_selection.ab_test.enabled
            or controller is None
            or controller.history is None
            or stored is None
            or not stored.selector.trained
            or self._ab_day == today
        ):
            return self.ab_advantage
        from phoenyra_ems.history.frames import read_buckets

        first = today - timedelta(days=AB_EVAL_MAX_DAYS)
        log = {k: v for k, v in self.ab_log.items() if first.isoformat() <= k < today.isoformat()}
        self._ab_day = today
        if not log:
            return self.ab_advantage
        await controller.history.flush()
        start = datetime.combine(date.fromisoformat(min(log)), datetime.min.time(), self._zone)
        end = datetime.combine(today, datetime.min.time(), self._zone)
        records = await read_buckets(
            controller.history.path, start - timedelta(days=7), end.astimezone(UTC), TRAIN_STEP_S
        )
        if not records:
            return self.ab_advantage
        future = await asyncio.to_thread(
            self.executor.submit, evaluate_ab, self.site, records, str(self.path), log
        )
        summary: dict[str, Any] = await asyncio.wrap_future(future)
        self.ab_advantage = {**summary, "valued_at": now.isoformat()}
        return self.ab_advantage

    async def check_stop_loss(self, now: datetime) -> StopLossLog | None:
        """Value the switched windows whose window and continuation are now history (counterfactual
        replay in the worker process) and book them; the stop-loss closes switching when their total
        is below zero. The log is written back (it survives a restart with the model)."""
        controller, stored, log = self._controller, self.stored, self.stop_loss
        if controller is None or controller.history is None or stored is None or log is None:
            return log
        default = stored.default_arm
        config = self.config.ai_selection
        end = datetime.fromtimestamp(now.timestamp() // TRAIN_STEP_S * TRAIN_STEP_S, UTC)
        due = log.due(end.timestamp(), config.window_h, config.label_tail_h)
        if default is None or not due:
            await asyncio.to_thread(self._write_stop_loss)
            return log
        from phoenyra_ems.history.frames import read_buckets

        await controller.history.flush()
        first = min(w.start_ts for w in due)
        local = datetime.fromtimestamp(first, self._zone)
        month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        start = min(month, datetime.fromtimestamp(first, UTC) - timedelta(days=STOP_LOSS_HISTORY_DAYS))
        records = await read_buckets(controller.history.path, start, end, TRAIN_STEP_S)
        if not records:
            return log
        future = await asyncio.to_thread(
            self.executor.submit, value_switches, self.site, records, due, default
        )
        gains: list[tuple[SwitchedWindow, float]] = await asyncio.wrap_future(future)
        was_closed = log.state.closed
        log.book(gains)
        if log.state.closed and not was_closed:
            LOGGER.warning(
                "site %s: stop-loss: the %d switched windows since the training lost %.2f EUR against "
                "the %s; switching closed until the next training",
                self.site.site_id,
                log.state.windows,
                -log.state.realised_eur,
                default,
            )
            self.current = None  # the optimiser again from the next cycle
        await asyncio.to_thread(self._write_stop_loss)
        return log

    def _write_stop_loss(self) -> None:
        log = self.stop_loss
        if log is not None:
            self._saved(self.stop_loss_path, lambda: write_log(self.stop_loss_path, log))

    def _saved(self, path: Path, write: Callable[[], None]) -> None:
        """Write a log file; a failure (a full disk) is logged and kept in ``last_error``, never
        raised: the log stays in memory and the next write (hourly, at the latest) tries again."""
        try:
            write()
        except OSError as err:
            self.last_error = f"cannot write {path}: {err}"
            LOGGER.warning("site %s: %s (kept in memory; retried)", self.site.site_id, self.last_error)

    # --- the controller's question ------------------------------------------------------------
    def choose(
        self, state: PlantState, now: datetime, prices: tuple[PriceSlot, ...], last: Decision | None
    ) -> str | None:
        """The strategy to pin now, or None for the score-based selection (sync, microseconds
        except at a window's start: one prediction, well under a millisecond)."""
        local = now.astimezone(self._zone)
        self._count_switch(local.date(), last)
        mode = self.config.selection_mode
        if mode == "fixed":
            self.current = CurrentChoice(now, self.site.ems.default_strategy, None, "fixed", "pinned", None)
            return self.site.ems.default_strategy
        if not self.config.uses_ai:
            return None
        window_start = datetime.fromtimestamp(
            now.timestamp() // self._window.total_seconds() * self._window.total_seconds(), UTC
        )
        if self.current is not None and self.current.window_start == window_start:
            return self.current.strategy
        arm = ab_arm(local.date()) if self.config.ai_selection.ab_test.enabled else None
        day = self.ab_log.setdefault(local.date().isoformat(), {"arm": arm, "ai_windows": 0, "switches": 0})
        day["arm"] = arm
        if arm == "score":
            self.current = CurrentChoice(window_start, None, None, "score", "A/B test: a score day", arm)
            return None
        if self.stored is None or not self.stored.selector.trained:
            self.current = CurrentChoice(
                window_start, None, None, "score", "AI selection not trained yet: score-based selection", arm
            )
            return None
        score = last.scores.get(last.strategy, 0.0) if last is not None else 0.0
        load_kw, pv_kw = self._forecast_means(local)
        features = build_features(
            soc_pct=state.soc,
            soh_pct=state.soh,
            temp_c=state.temp_c,
            prices=[slot.eur_mwh for slot in prices],
            pv_forecast_kw=pv_kw,
            load_forecast_kw=load_kw,
            local_now=local,
            score=score,
        )
        incumbent = self.current.strategy if self.current is not None else None
        stop_loss = self.stop_loss
        if stop_loss is None or stop_loss.trained_at != self.stored.summary.trained_at:
            stop_loss = self.stop_loss = StopLossLog(self.stored.summary.trained_at)
        choice = self.stored.choose(features, incumbent, stop_loss.state.closed)
        default = self.stored.default_arm
        if default is not None and choice.strategy not in (None, default):
            # the stop-loss values it once its data is past (check_stop_loss)
            stop_loss.pending.append(
                SwitchedWindow(
                    window_start.timestamp(), choice.strategy, state.soc, state.soh, state.setpoint
                )
            )
        self.current = CurrentChoice(
            window_start, choice.strategy, choice.confidence, choice.source, choice.reason, arm
        )
        if choice.strategy is not None:
            day["ai_windows"] = int(day.get("ai_windows", 0)) + 1
        return choice.strategy

    def _forecast_means(self, local: datetime) -> tuple[float, float]:
        """Mean load and PV over the next 6 h from the site's hourly profile of its recent history."""
        if self._profile is None:
            return 0.0, 0.0
        load, pv = self._profile
        hours = [(local.hour + h) % 24 for h in range(int(FORECAST_HOURS))]
        return float(load[hours].mean()), float(pv[hours].mean())

    def _count_switch(self, day: date, last: Decision | None) -> None:
        if last is None:
            return
        if self._last_strategy is not None and last.strategy != self._last_strategy:
            entry = self.ab_log.setdefault(day.isoformat(), {"arm": None, "ai_windows": 0, "switches": 0})
            entry["switches"] = int(entry.get("switches", 0)) + 1
        self._last_strategy = last.strategy

    def _write_ab_log(self) -> None:
        if not self.ab_log:
            return
        text = json.dumps(self.ab_log, indent=1, sort_keys=True).encode()
        self._saved(self.ab_path, lambda: write_atomically(self.ab_path, lambda out: out.write(text)))

    # --- the API's view -------------------------------------------------------------------------
    def status(self) -> SelectorStatus:
        """What ``GET /sites/{id}/selector`` serves: mode, model, the current choice, the A/B tally."""
        stored = self.stored
        summary = stored.summary if stored is not None else None
        current = self.current
        tally: dict[str, dict[str, float]] = {}
        for entry in self.ab_log.values():
            arm = entry.get("arm") or "none"
            bucket = tally.setdefault(arm, {"days": 0, "switches": 0})
            bucket["days"] += 1
            bucket["switches"] += int(entry.get("switches", 0))
        for bucket in tally.values():
            bucket["switches_per_day"] = bucket["switches"] / bucket["days"] if bucket["days"] else 0.0
        advantage = self.ab_advantage
        return SelectorStatus(
            site_id=self.site.site_id,
            mode=SelectionMode(self.config.selection_mode),
            ai_enabled=self.config.uses_ai,
            trained=bool(stored is not None and stored.selector.trained),
            trained_at=summary.trained_at if summary else None,
            samples=summary.samples if summary else 0,
            label_counts=summary.label_counts if summary else {},
            feature_importances=summary.importances if summary else {},
            current=None
            if current is None
            else SelectorChoice(
                strategy=current.strategy,
                source=ChoiceSource(current.source),
                confidence=current.confidence,
                reason=current.reason,
                arm=current.arm,
                window_start=current.window_start,
            ),
            ab_test=AbTest(
                enabled=self.config.ai_selection.ab_test.enabled,
                tally=tally,
                advantage=None if advantage is None else AbAdvantage.from_dict(advantage),
            ),
            last_error=self.last_error,
            switching=self._switching_status(),
        )

    def _switching_status(self) -> SelectorSwitching | None:
        stored = self.stored
        if stored is None or stored.default_arm is None or not stored.selector.trained:
            return None
        log = self.stop_loss
        if log is None or log.trained_at != stored.summary.trained_at:
            log = StopLossLog(stored.summary.trained_at)
        return SelectorSwitching(
            default_arm=stored.default_arm,
            validated=stored.switching,
            stopped_by_loss=log.state.closed,
            realised_eur=log.state.realised_eur,
            windows_valued=log.state.windows,
            windows_pending=len(log.pending),
        )


def _hourly_profile(records: list[Any], zone: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Mean load and PV per local hour over the last 7 days of records (the live forecast feature)."""
    if not records:
        return np.zeros(24), np.zeros(24)
    last = records[-1].ts
    load, pv, count = np.zeros(24), np.zeros(24), np.zeros(24)
    for r in records:
        if r.ts < last - 7 * 86400:
            continue
        hour = datetime.fromtimestamp(r.ts, zone).hour
        load[hour] += r.p_load
        pv[hour] += r.p_pv
        count[hour] += 1
    count[count == 0] = 1
    return load / count, pv / count
