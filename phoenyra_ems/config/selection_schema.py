"""The ``strategy:`` section of a site: how its strategy is selected (score, AI, A/B test; issue 13)."""

from __future__ import annotations

import voluptuous as vol

from phoenyra_ems.config.model import (
    SELECTION_MODES,
    ABTestConfig,
    AISelectionConfig,
    StrategySelectionConfig,
)
from phoenyra_ems.config.validators import boolean, integer, number, one_of, section

AB_TEST = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("split"): one_of(["alternate_days"], "split"),
    },
    ABTestConfig,
)
AI_SELECTION = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("training_data_days"): integer(ge=1, le=3650),
        vol.Optional("retrain_interval_days"): integer(ge=1, le=365),
        vol.Optional("min_samples"): integer(ge=2),
        vol.Optional("min_confidence"): number(ge=0, le=1),
        vol.Optional("window_h"): number(ge=0.25, le=24),
        vol.Optional("label_tail_h"): number(ge=0, le=48),
        vol.Optional("ab_test"): AB_TEST,
    },
    AISelectionConfig,
)
STRATEGY_SELECTION = section(
    {
        vol.Optional("selection_mode"): one_of(SELECTION_MODES, "selection_mode"),
        vol.Optional("ai_selection"): AI_SELECTION,
    },
    StrategySelectionConfig,
)
