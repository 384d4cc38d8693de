"""The optimiser values a member site's export at the community's internal price where the community
takes it: the pure pricing, the plans it changes, and the terms the daemon's recorder hands over from
a real ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from phoenyra_ems.clock import AcceleratedClock
from phoenyra_ems.community.recorder import CommunityRecorder
from phoenyra_ems.config.community_model import CommunityConfig, CommunityMember, CommunityPrice, LedgerConfig
from phoenyra_ems.config.model import BessConfig, EmsConfig, EmsSettings, GridTariffConfig
from phoenyra_ems.core.community.allocation import MemberMeter
from phoenyra_ems.core.community.export_value import (
    CommunityExportValue,
    export_value_eur_mwh,
    marginal_uptake,
    uptake_profile,
)
from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.optimiser.live import PlanHistory
from phoenyra_ems.core.optimiser.plan import OptimiserSettings, PlanInputs, make_plan
from phoenyra_ems.history.store import HistoryRecord, HistoryStore, database_path
from tests.conftest import free_port, make_site

START = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
LIMITS = SiteLimits(
    capacity_kwh=10.0,
    charge_max_kw=5.0,
    discharge_max_kw=5.0,
    efficiency_charge=0.95,
    efficiency_discharge=0.95,
    soc_min_pct=10.0,
    soc_max_pct=90.0,
)
FLAT = GridTariffConfig(energy_price_markup_eur_mwh=150.0, feedin_tariff_eur_mwh=0.0, feedin_pricing="fixed")


def test_the_shared_part_is_worth_the_internal_price_the_rest_the_feed_in_price() -> None:
    value = export_value_eur_mwh(np.array([50.0, 50.0, 50.0, 50.0]), np.array([120.0] * 3 + [np.nan]),
                                 np.array([0.0, 0.5, 1.0, 1.0]))  # fmt: skip
    assert value == pytest.approx([50.0, 85.0, 120.0, 50.0])  # unknown internal price: feed-in


def test_the_marginal_uptake_is_what_the_community_takes_of_one_more_kwh() -> None:
    flats, farm = MemberMeter("flats", 2.0, 0.0), MemberMeter("farm", 0.0, 6.0)
    # the community's consumption is not covered: all of it is taken
    assert marginal_uptake([flats, MemberMeter("wien", 0.0, 1.0)], "wien", "dynamic") == pytest.approx(1.0)
    # ... but only up to what is still uncovered: of 4 kWh more, the 1 kWh the flats still need
    assert marginal_uptake(
        [flats, MemberMeter("wien", 0.0, 1.0)], "wien", "dynamic", step_kwh=4.0
    ) == pytest.approx(0.25)
    # the farm covers it already: one more kWh only displaces the farm's share, C/G x (1 - g/G)
    shared = [flats, farm, MemberMeter("wien", 0.0, 2.0)]
    assert marginal_uptake(shared, "wien", "dynamic") == pytest.approx(0.25 * 0.75, abs=1e-3)
    assert marginal_uptake([flats, farm], "wien", "dynamic") == pytest.approx(2 / 6, abs=1e-3)  # fed in 0
    # static key, flats may take 40 % of the generation: capped by its 2 kWh, as above; else 40 %
    assert marginal_uptake(shared, "wien", "static", {"flats": 0.4}) == pytest.approx(0.1875, abs=1e-3)
    assert marginal_uptake(
        [flats, MemberMeter("wien", 0, 1)], "wien", "static", {"flats": 0.4}
    ) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="step_kwh"):
        marginal_uptake(shared, "wien", "dynamic", step_kwh=0.0)


def test_uptake_is_the_mean_per_local_quarter_hour_times_participation() -> None:
    rows = [  # 10:00 UTC = 12:00 in Vienna (summer time): slot 48
        ("2024-06-10T10:00:00Z", 0.5),
        ("2024-06-11T10:00:00Z", 1.0),
        ("2024-06-11T10:15:00Z", 0.0),
    ]
    uptake, days = uptake_profile(rows, "Europe/Vienna", participation=0.8)
    assert days == 2 and len(uptake) == 96
    assert uptake[48] == pytest.approx(0.8 * 0.75) and uptake[49] == 0.0 and sum(uptake) == uptake[48]
    terms = CommunityExportValue("eeg", "wien", uptake, mode="dayahead", markup_eur_kwh=0.04)
    assert terms.uptake_at([datetime(2024, 6, 20, 10, 5, tzinfo=UTC)]) == pytest.approx([0.6])
    assert terms.internal_eur_mwh(np.array([100.0, np.nan])) == pytest.approx([140.0, 120.0])
    assert CommunityExportValue("eeg", "wien", ()).uptake_at([START]) == pytest.approx([0.0])


def _inputs(uptake: float | None) -> PlanInputs:
    hours = np.arange(24.0)
    n = len(hours)
    return PlanInputs(
        start=START,
        step_s=3600.0,
        load_kw=0.5 + 2.0 * (np.abs(hours - 20) < 3),
        pv_kw=6.0 * np.clip(np.cos((hours - 13) / 6 * np.pi / 2), 0, None),
        price_eur_mwh=np.full(n, 100.0),  # buy 250 EUR/MWh all day; feed-in 0
        published_steps=n,
        community_eur_mwh=None if uptake is None else np.full(n, 240.0),
        community_uptake=None if uptake is None else np.full(n, uptake),
    )


def test_a_plan_exports_midday_pv_to_the_community_instead_of_storing_it_when_that_pays() -> None:
    # Stored PV saves an evening purchase: 250 x 0.95 x 0.95 = 226 EUR/MWh. Exporting earns 0 outside
    # the community, 240 where the community takes all of it, 120 where it takes half.
    charged = {}
    for uptake in (None, 0.5, 1.0):
        plan = make_plan(_inputs(uptake), LIMITS, FLAT, 10.0, OptimiserSettings(horizon_h=24))
        assert plan.ok
        charged[uptake] = float(-np.minimum(plan.battery_kw, 0.0).sum())
    assert charged[None] > 7.0 and charged[0.5] == pytest.approx(charged[None], abs=1e-3)
    assert charged[1.0] < 0.01
    plan = make_plan(_inputs(1.0), LIMITS, FLAT, 10.0, OptimiserSettings(horizon_h=24))
    assert plan.sell_eur_mwh == pytest.approx(np.full(24, 240.0))


def test_the_live_plan_inputs_carry_the_community_terms_and_say_so() -> None:
    history = PlanHistory(make_site(free_port()))
    plain = history.inputs(START, [], 1.0)
    assert plain.community_uptake is None and "community" not in plain.source
    history.community = CommunityExportValue("eeg-donau", "wien", tuple([0.0] * 40 + [0.5] * 16 + [0.0] * 40),
                                             days=7)  # fmt: skip
    inputs = history.inputs(START, [], 1.0)  # same step, new terms: rebuilt
    assert inputs is not plain and inputs.community_eur_mwh is not None
    assert inputs.community_uptake is not None and inputs.community_uptake.max() == 0.5
    assert inputs.source.endswith("; export: community eeg-donau takes 8 % (7 days)")
    assert np.all(inputs.community_eur_mwh == 120.0)  # fixed 0.12 EUR/kWh


async def test_the_recorder_hands_each_member_site_its_uptake_from_the_ledger(tmp_path: Path) -> None:
    t0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)
    # a 4 kW battery: the uptake asked for is that of 1 kWh more export per quarter-hour
    site = make_site(
        free_port(), ems=EmsSettings(history_dir=str(tmp_path)), bess=BessConfig(8, 4, 4, 0.95, 0.95, 10, 90)
    )
    store = HistoryStore(database_path(tmp_path, "wien"))
    await store.open()
    for minute in range(30):  # 4 kW exported for half an hour: 1 kWh per quarter-hour
        ts = (t0 + timedelta(minutes=minute)).timestamp()
        await store.append(HistoryRecord(ts, 50, 100, None, 0, 4, 0, -4, None, 0, None, "auto", "running"))
    await store.close()
    (tmp_path / "flats.csv").write_text(  # needs more than Wien's export, then less
        "timestamp_utc,consumption_kwh\n2024-06-12T10:00:00Z,2.0\n2024-06-12T10:15:00Z,0.25\n"
    )
    community = CommunityConfig(
        "eeg",
        {"wien": CommunityMember("wien", site="wien"), "flats": CommunityMember("flats", csv="flats.csv")},
        price=CommunityPrice(mode="fixed", fixed_eur_kwh=0.15),
        ledger=LedgerConfig(str(tmp_path / "ledger.db"), str(tmp_path / "keys")),
    )
    config = EmsConfig(sites={"wien": site}, default_site_id="wien", community=community,
                       source=str(tmp_path / "ems.yaml"))  # fmt: skip
    handed: list[dict[str, CommunityExportValue]] = []
    clock = AcceleratedClock(t0 + timedelta(minutes=40), speed=1)
    recorder = CommunityRecorder(lambda: config, clock, on_values=handed.append)
    runs = await recorder.run_once()
    assert sum(r.appended for r in runs) == 2
    terms = handed[-1]["wien"]
    assert terms.member == "wien" and terms.days == 1 and terms.fixed_eur_kwh == 0.15
    # 12:00 local: one more kWh would have been taken (2 kWh needed); 12:15: the flats were covered
    assert terms.uptake[48] == pytest.approx(1.0) and terms.uptake[49] == pytest.approx(0.0)
    assert sum(terms.uptake) == pytest.approx(1.0)
