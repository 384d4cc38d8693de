"""The A/B report: the value of each day under its arm, by counterfactual replay, with a bootstrap CI.

Every day of the A/B log is replayed from its recorded load, PV and prices with the arm that ran
(the stored model, or the score-based selection), from the same start state (50 % SoC) and with
stored energy valued alike — the machinery of the labels (:mod:`phoenyra_ems.backtest.counterfactual`).
Days differ in weather and prices, so the AI days' mean minus the score days' mean gets a 95 %
bootstrap interval over days; the paired estimate (both arms replayed on every day) is printed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from phoenyra_ems.backtest.counterfactual import WindowPick, WindowReplayer, WindowStart
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import ARM_AI, ARM_SCORE, bootstrap_difference
from phoenyra_ems.core.battery import BatteryState
from phoenyra_ems.core.decision import Decision
from phoenyra_ems.selector.training import StoredSelector, pool_site

SOC_START_PCT = 50.0


def model_pick(replayer: WindowReplayer, stored: StoredSelector, window_steps: int, start: int) -> WindowPick:
    """A trained selector as a per-step choice: it decides at each window's start, pinned in between."""
    held: list[str | None] = [None]

    def pick(j: int, battery: BatteryState, setpoint: float, last: Decision | None) -> str | None:
        if (j - start) % window_steps == 0:
            score = last.scores.get(last.strategy, 0.0) if last is not None else 0.0
            features = replayer.features(WindowStart(j, battery.soc_pct, battery.soh_pct, setpoint), score)
            held[0] = stored.choose(features, held[0]).strategy
        return held[0]

    return pick


@dataclass
class DayValue:
    day: date
    arm: str
    ai_eur: float  # the day replayed with the model
    score_eur: float  # the day replayed with the score-based selection
    switches: int

    @property
    def realised_eur(self) -> float:
        return self.ai_eur if self.arm == ARM_AI else self.score_eur


def day_values(
    site: SiteConfig, data: BacktestData, stored: StoredSelector, ab_log: dict[str, dict[str, Any]]
) -> list[DayValue]:
    site = pool_site(site)
    per_day = round(24 / data.step_h)
    replayer = WindowReplayer(site, data, per_day)
    window = max(1, round(stored.window_h / data.step_h))
    local_days = np.asarray(data.index.tz_convert(site.location.timezone).date)
    values = []
    for key, entry in sorted(ab_log.items()):
        arm = entry.get("arm")
        if arm not in (ARM_AI, ARM_SCORE):
            continue
        steps = np.flatnonzero(local_days == date.fromisoformat(key))
        if len(steps) < per_day:
            continue  # not a whole day of history
        start = WindowStart(int(steps[0]), SOC_START_PCT)
        values.append(
            DayValue(
                date.fromisoformat(key),
                arm,
                replayer.value(start, model_pick(replayer, stored, window, start.index)),
                replayer.value(start, None),
                int(entry.get("switches", 0)),
            )
        )
    return values


def ab_summary(values: list[DayValue]) -> dict[str, float | int | None]:
    """The A/B advantage as the API serves it: days per arm, the AI advantage in EUR per day (arm
    means) with its 95 % bootstrap interval, and the paired estimate; None where an arm has no day."""
    ai = [v.realised_eur for v in values if v.arm == ARM_AI]
    score = [v.realised_eur for v in values if v.arm == ARM_SCORE]
    summary: dict[str, float | int | None] = {
        "ai_days": len(ai),
        "score_days": len(score),
        "eur_per_day": None,
        "ci_low_eur": None,
        "ci_high_eur": None,
        "paired_eur_per_day": None,
    }
    if ai and score:
        diff, low, high = bootstrap_difference(ai, score)
        paired = float(np.mean([v.ai_eur - v.score_eur for v in values]))
        summary.update(eur_per_day=diff, ci_low_eur=low, ci_high_eur=high, paired_eur_per_day=paired)
    return summary


def ab_report(values: list[DayValue]) -> str:
    ai = [v.realised_eur for v in values if v.arm == ARM_AI]
    score = [v.realised_eur for v in values if v.arm == ARM_SCORE]
    lines = [f"A/B days: {len(ai)} AI, {len(score)} score (whole days of history only)"]
    if not ai or not score:
        return "\n".join([*lines, "not enough days in both arms for a comparison yet"])
    diff, low, high = bootstrap_difference(ai, score)
    paired = np.array([v.ai_eur - v.score_eur for v in values])
    for arm, days in ((ARM_AI, ai), (ARM_SCORE, score)):
        switches = [v.switches for v in values if v.arm == arm]
        lines.append(
            f"  {arm:<6} mean value {np.mean(days):8.3f} EUR/day, switches/day {np.mean(switches):.2f}"
        )
    lines += [
        f"AI advantage (arm means): {diff:+.3f} EUR/day, 95 % bootstrap CI [{low:+.3f}, {high:+.3f}]",
        f"AI advantage (both arms replayed on every day, paired): {paired.mean():+.3f} EUR/day",
    ]
    return "\n".join(lines)
