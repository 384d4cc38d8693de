"""Cut the real data the project ships out of the shared data folder (run once; output committed).

Usage: python scripts/prepare_data.py ../shared/data phoenyra_ems/data
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def main(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    with (src / "prices_de_lu_at_dayahead_hourly_2023_2024_smard.csv").open() as f_in, (
        dst / "prices_at_de_lu_dayahead_2024_hourly.csv"
    ).open("w", newline="") as f_out:
        writer = csv.writer(f_out)
        writer.writerow(["timestamp_utc", "price_at_eur_per_mwh", "price_de_lu_eur_per_mwh"])
        for row in csv.DictReader(f_in):
            if row["timestamp_utc"] >= "2023-12-31T23:00:00Z":
                writer.writerow([row["timestamp_utc"], row["price_at_eur_per_mwh"], row["price_de_lu_eur_per_mwh"]])
    with (src / "household_pv_opsd_konstanz_res4_hourly_2015_2017.csv").open() as f_in, (
        dst / "household_konstanz_2016_hourly.csv"
    ).open("w", newline="") as f_out:
        writer = csv.writer(f_out)
        writer.writerow(["timestamp_utc", "pv_kw", "household_load_kw"])
        for row in csv.DictReader(f_in):
            if "2015-12-31T23:00:00Z" <= row["timestamp_utc"] < "2016-12-31T23:00:00Z":
                writer.writerow([row["timestamp_utc"], row["pv_kwh"], row["household_consumption_kwh"]])
    with (src / "load_ci_tool_manufacturer_15min_2018.csv").open() as f_in, (
        dst / "load_ci_tool_manufacturer_2018_15min.csv"
    ).open("w", newline="") as f_out:
        f_out.write(f_in.read())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
