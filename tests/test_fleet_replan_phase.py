"""The per-site replan offset that spreads a fleet's step-boundary solves (docs/optimiser.md, "Fleet")."""

from __future__ import annotations

from phoenyra_ems.fleet import REPLAN_SPREAD_MAX_S, replan_phase


def test_replan_phases_are_stable_and_spread_over_the_first_third_of_a_step_at_most_300_s() -> None:
    sites = [f"site{i:04d}" for i in range(1000)]
    phases = [replan_phase(s, 900.0) for s in sites]
    assert phases == [replan_phase(s, 900.0) for s in sites]  # the same after a restart
    assert all(0 <= p < 300.0 for p in phases)
    per_minute = [sum(60 * m <= p < 60 * (m + 1) for p in phases) for m in range(5)]
    assert min(per_minute) > 150  # no minute of the spread empty: about 200 solves each
    assert max(replan_phase(s, 3600.0) for s in sites) < REPLAN_SPREAD_MAX_S
    assert max(replan_phase(s, 300.0) for s in sites) < 100.0  # a short step: its first third
