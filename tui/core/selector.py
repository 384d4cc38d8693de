"""Who chose the site's strategy, for the dashboard: the operator (pinned), the configuration
(``selection_mode: fixed``), the AI model (with its confidence) or the score-based selection, and
the A/B test's tally and advantage, and whether the stop-loss closed the AI's switching away from
the optimiser (``GET /sites/{id}/selector``, docs/ai-selection.md)."""

from __future__ import annotations

from phoenyra_ems.client import Control, Mode, SelectorStatus

SELECTOR_POLL_S = 10.0  # the choice changes at most once per window (1 h): a slow poll is enough


def chooser(status: SelectorStatus | None, control: Control | None) -> str:
    """``pinned`` (operator), ``manual``/``standby`` (no strategy decides), ``fixed``, ``ai`` or ``score``."""
    if control is not None and control.mode is not Mode.AUTO:
        return control.mode.value
    if control is not None and control.strategy is not None:
        return "pinned"
    if status is None:
        return "score"
    if status.source is not None:
        return status.source
    return "fixed" if status.mode == "fixed" else "score"


def selector_line(status: SelectorStatus | None, control: Control | None) -> str:
    """One line: who chose, and for an A/B test its days and switches per arm and the advantage."""
    who = chooser(status, control)
    if who == "pinned" and control is not None:
        text = f"chosen by: operator (pinned {control.strategy})"
    elif who in (Mode.MANUAL.value, Mode.STANDBY.value):
        text = f"chosen by: nobody ({who} mode)"
    elif who == "fixed":
        text = "chosen by: configuration (selection_mode fixed)"
    elif who == "ai" and status is not None:
        confidence = "" if status.confidence is None else f" {100 * status.confidence:.0f} %"
        text = f"chosen by: AI{confidence}"
        switching = status.switching
        if switching is not None and switching.stopped_by_loss:  # the optimiser until the next training
            text += (
                f" (stop-loss: switches lost {-switching.realised_eur:.2f} EUR, {switching.default_arm} kept)"
            )
    else:
        trained = status is not None and status.ai_enabled and not status.trained
        text = "chosen by: scores" + (" (AI not trained yet)" if trained else "")
    if status is None or not status.ab_enabled:
        return text
    arms = [
        f"{arm} {tally.get('days', 0):.0f} d {tally.get('switches_per_day', 0):.1f} sw/d"
        for arm, tally in sorted(status.ab_tally.items())
        if arm in ("ai", "score")
    ]
    advantage = status.ab_advantage
    value = ""
    if advantage is not None and advantage.eur_per_day is not None:
        value = f" · AI {advantage.eur_per_day:+.2f} EUR/d"
        if advantage.ci_low_eur is not None and advantage.ci_high_eur is not None:
            value += f" [{advantage.ci_low_eur:+.2f}, {advantage.ci_high_eur:+.2f}]"
    return f"{text} · A/B{value} · {', '.join(arms) or 'no days yet'}"
