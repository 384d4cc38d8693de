"""The plan's export caps: dynamic feed-in rules per step in site-local time, a fixed rule once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import numpy as np
import pytest

from phoenyra_ems.config.model import FeedinLimitationConfig, FeedinRule
from phoenyra_ems.core.optimiser import plan as plan_module
from phoenyra_ems.core.optimiser.plan import site_plan_inputs
from tests.conftest import make_site

START = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)  # 10:00 in Europe/Vienna (summer time)
N = 16  # 4 h of 15-min steps


def _inputs(feedin: FeedinLimitationConfig, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, int]:
    site = replace(make_site(5020), feedin_limitation=feedin)
    site = replace(site, location=replace(site.location, timezone="Europe/Vienna"))
    calls = []
    real = plan_module.limits_at
    monkeypatch.setattr(plan_module, "limits_at", lambda s, t: calls.append(t) or real(s, t))
    zeros = np.zeros(N)
    inputs = site_plan_inputs(site, START, 900.0, zeros, zeros, zeros, N)
    return inputs.export_max_kw, len(calls)


def test_dynamic_feedin_rules_still_cap_each_step_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = FeedinRule(time(11, 0), time(13, 0), 0.0)  # no export 11:00-13:00 local
    feedin = FeedinLimitationConfig(enabled=True, mode="dynamic", dynamic_rules=(rule,))
    caps, calls = _inputs(feedin, monkeypatch)
    assert calls == N
    assert (caps[:4] == 150.0).all() and (caps[4:12] == 0.0).all() and (caps[12:] == 150.0).all()


def test_a_fixed_feedin_rule_is_evaluated_once_for_the_whole_horizon(monkeypatch: pytest.MonkeyPatch) -> None:
    site_peak = make_site(5020).forecast.pv_peak_power_kw
    caps, calls = _inputs(FeedinLimitationConfig(enabled=True, mode="fixed", fixed_limit_pct=50), monkeypatch)
    assert calls == 1
    assert caps.shape == (N,) and (caps == site_peak * 0.5).all()
    caps, calls = _inputs(FeedinLimitationConfig(enabled=False), monkeypatch)
    assert calls == 1 and caps.shape == (N,) and (caps == 150.0).all()  # the grid connection
