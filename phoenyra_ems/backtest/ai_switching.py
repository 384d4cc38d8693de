"""Leaving the default arm (the optimiser): training targets, what switching gained, the validation gate.

Used by the walk-forward row (:mod:`phoenyra_ems.backtest.ai_selection`) and the daemon's selector.
"""

from __future__ import annotations

from phoenyra_ems.backtest.ai_settings import WalkForwardSettings
from phoenyra_ems.backtest.counterfactual import Labelled
from phoenyra_ems.core.ai_selection import AIStrategySelector, GateResult, SelectorFeatures, switching_gate


def training_targets(
    labels: list[Labelled], default: str | None, margin_eur: float
) -> tuple[list[str], list[float]]:
    """Training labels and weights. Without a default arm: the best strategy, weighted by the
    window's spread. With one: another strategy only where it beat the default arm by more than
    ``margin_eur`` (money hysteresis), weighted by what switching (or not) gained or lost."""
    if default is None:
        return [x.best for x in labels], [x.spread for x in labels]
    names, weights = [], []
    for x in labels:
        other, value = max(((k, v) for k, v in x.values.items() if k != default), key=lambda kv: kv[1])
        gain = value - x.values[default]
        names.append(other if gain > margin_eur else default)
        weights.append(abs(gain))
    return names, weights


def switching_gains(
    selector: AIStrategySelector,
    labels: list[Labelled],
    default: str,
    confidence_needed: float,
) -> list[float]:
    """Per window of ``labels``: what following ``selector`` (leaving ``default`` where it is
    confident) gained against the default arm, in EUR (each window from its recorded start state)."""
    gains = []
    for x in labels:
        pool = tuple(x.values)
        choice, _ = switch_choice(selector, x.features, pool, default, confidence_needed)
        gains.append(x.values[choice] - x.values[default])
    return gains


def switching_gain(
    selector: AIStrategySelector,
    labels: list[Labelled],
    default: str,
    confidence_needed: float,
) -> float:
    """The total of :func:`switching_gains`, in EUR."""
    return float(sum(switching_gains(selector, labels, default, confidence_needed)))


def validate_switching(
    selector: AIStrategySelector,
    labels: list[Labelled],
    default: str,
    settings: WalkForwardSettings,
) -> GateResult:
    """The validation gate: ``selector`` (trained before ``labels``) followed over ``labels`` must
    have gained significantly against ``default`` (:func:`~phoenyra_ems.core.ai_selection.switching_gate`)."""
    gains = switching_gains(selector, labels, default, settings.switch_confidence)
    return switching_gate(
        gains,
        max(1, round(24.0 / settings.window_h)),
        level=settings.gate_level,
        min_gain_eur=settings.min_switch_gain_eur,
    )


def switch_choice(
    selector: AIStrategySelector,
    features: SelectorFeatures,
    pool: tuple[str, ...],
    default: str,
    confidence_needed: float,
) -> tuple[str, float | None]:
    """The default arm, unless the trained model names another strategy with at least
    ``confidence_needed``; the confidence is None while untrained (the default arm decides)."""
    if not selector.trained:
        return default, None
    proba = {k: v for k, v in selector.probabilities(features).items() if k in pool}
    if not proba:
        return default, None
    best, confidence = max(proba.items(), key=lambda kv: kv[1])
    if best != default and confidence >= confidence_needed:
        return best, confidence
    return default, proba.get(default, 1.0 - confidence)
