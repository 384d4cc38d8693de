"""Write the example community's two external metering points (examples/community/*.csv).

Both from the real series shipped in phoenyra_ems/data, replayed on June 2024's days (Europe/Vienna):

- ``wohnanlage.csv``: an apartment block, consumer only — the measured VDI 4657 single-family house
  (2019, 15 min) scaled to 120 MWh/a;
- ``bauernhof.csv``: a farm with 150 kWp PV (Konstanz 2016 PV per kWp) and a 25 MWh/a household-type
  load (the Konstanz house's load, scaled); the meter sees only the net import and export.

Run: ``python scripts/make_community_example.py [YYYY-MM]``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from phoenyra_ems import series
from phoenyra_ems.community.meters import STEP_S, interval_starts, iso, month_bounds

OUT = Path(__file__).resolve().parents[1] / "examples" / "community"


def main(month: str = "2024-06") -> None:
    start, end = month_bounds(month, "Europe/Vienna")
    flat = series.load_column("load_household_vdi4657_efh_2019_15min.csv", "load_w_per_mwh_a", 1 / 1000)
    pv, house = series.pv_per_kwp(), series.household_load_kw()
    hours = STEP_S / 3600
    block, farm = (
        ["timestamp_utc,consumption_kwh,generation_kwh"],
        ["timestamp_utc,consumption_kwh,generation_kwh"],
    )
    for ts in interval_starts(start, end):
        mid = datetime.fromtimestamp(ts + STEP_S / 2, UTC)
        block.append(f"{iso(ts)},{flat.value_at(mid) * 120 * hours:.4f},0")
        net = house.value_at(mid) * 25 / 6.125 - max(0.0, pv.value_at(mid)) * 150
        farm.append(f"{iso(ts)},{max(net, 0) * hours:.4f},{max(-net, 0) * hours:.4f}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "wohnanlage.csv").write_text("\n".join(block) + "\n")
    (OUT / "bauernhof.csv").write_text("\n".join(farm) + "\n")
    print(f"{len(block) - 1} intervals each → {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:])
