"""Cut the real data the project ships out of the shared data folder (run once; output committed).

Usage: python scripts/prepare_data.py ../shared/data phoenyra_ems/data
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def main(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    with (
        (src / "prices_de_lu_at_dayahead_hourly_2023_2024_smard.csv").open() as f_in,
        (dst / "prices_at_de_lu_dayahead_2024_hourly.csv").open("w", newline="") as f_out,
    ):
        writer = csv.writer(f_out)
        writer.writerow(["timestamp_utc", "price_at_eur_per_mwh", "price_de_lu_eur_per_mwh"])
        for row in csv.DictReader(f_in):
            if row["timestamp_utc"] >= "2023-12-31T23:00:00Z":
                writer.writerow(
                    [row["timestamp_utc"], row["price_at_eur_per_mwh"], row["price_de_lu_eur_per_mwh"]]
                )
    with (
        (src / "household_pv_opsd_konstanz_res4_hourly_2015_2017.csv").open() as f_in,
        (dst / "household_konstanz_2016_hourly.csv").open("w", newline="") as f_out,
    ):
        writer = csv.writer(f_out)
        writer.writerow(["timestamp_utc", "pv_kw", "household_load_kw"])
        for row in csv.DictReader(f_in):
            if "2015-12-31T23:00:00Z" <= row["timestamp_utc"] < "2016-12-31T23:00:00Z":
                writer.writerow([row["timestamp_utc"], row["pv_kwh"], row["household_consumption_kwh"]])
    with (
        (src / "load_ci_tool_manufacturer_15min_2018.csv").open() as f_in,
        (dst / "load_ci_tool_manufacturer_2018_15min.csv").open("w", newline="") as f_out,
    ):
        f_out.write(f_in.read())
    _forecasting_data(src, dst)


def _cut(src: Path, dst: Path, columns: dict[str, str], start: str = "", end: str = "9999") -> None:
    """Copy ``columns`` (source name -> our name) of the rows with start <= timestamp < end."""
    with src.open() as f_in, dst.open("w", newline="") as f_out:
        writer = csv.writer(f_out)
        writer.writerow(["timestamp_utc", *columns.values()])
        for row in csv.DictReader(f_in):
            if start <= row["timestamp_utc"] < end:
                writer.writerow([row["timestamp_utc"], *(row[name] for name in columns)])


def _forecasting_data(src: Path, dst: Path) -> None:
    """What the forecasters, forecast-eval and the benchmarks of issue 4 need."""
    _cut(
        src / "household_pv_opsd_konstanz_res4_hourly_2015_2017.csv",
        dst / "household_konstanz_2015_2017_hourly.csv",
        {"pv_kwh": "pv_kw", "household_consumption_kwh": "household_load_kw"},
    )
    _cut(
        src / "prices_de_lu_at_dayahead_hourly_2023_2024_smard.csv",
        dst / "prices_at_de_lu_dayahead_2023_hourly.csv",
        {
            "price_at_eur_per_mwh": "price_at_eur_per_mwh",
            "price_de_lu_eur_per_mwh": "price_de_lu_eur_per_mwh",
        },
        end="2023-12-31T23:00:00Z",
    )
    _cut(
        src / "de_lu_dayahead_generation_forecast_hourly_2023_2024_smard.csv",
        dst / "generation_forecast_de_lu_2023_2024_hourly.csv",
        {
            "fc_total_generation_mwh": "fc_total_generation_mwh",
            "fc_pv_mwh": "fc_pv_mwh",
            "fc_wind_onshore_mwh": "fc_wind_onshore_mwh",
            "fc_wind_offshore_mwh": "fc_wind_offshore_mwh",
        },
    )
    _cut(
        src / "pv_weather_nrel_pvdaq50_hourly_2011_2013.csv",
        dst / "pv_weather_nrel_pvdaq50_hourly_2011_2013.csv",
        {
            "ac_power_kw_mean": "pv_kw",
            "ghi_w_m2": "ghi_w_m2",
            "ghi_clearsky_w_m2": "ghi_clearsky_w_m2",
            "temp_air_c": "temp_air_c",
        },
    )
    _cut(
        src / "load_households_vdi4657_ref_15min_2019.csv",
        dst / "load_household_vdi4657_efh_2019_15min.csv",
        {"w_efh_w_per_mwh_a": "load_w_per_mwh_a"},
    )
    # Issue 19: every load data set of the forecast evaluation (docs/forecasting.md).
    _cut(
        src / "load_households_vdi4657_ref_15min_2019.csv",
        dst / "load_households_vdi4657_flat_efhwp_2019_15min.csv",
        {"w_w_w_per_mwh_a": "flat_w_per_mwh_a", "w_efh_wp050_w_per_mwh_a": "efh_heat_pump_w_per_mwh_a"},
    )
    _cut(
        src / "load_ci_furniture_store_offices_15min_2015.csv",
        dst / "load_ci_office_small_2015_15min.csv",
        {"office_small_w_per_mwh_a": "office_small_w_per_mwh_a"},
    )
    _cut(
        src / "load_ci_furniture_store_offices_15min_2015.csv",
        dst / "load_ci_furniture_store_2015_15min.csv",
        {"g_mh_furniture_store_w_per_mwh_a": "furniture_store_w_per_mwh_a"},
    )
    _cut(
        src / "load_ci_electroplating_15min_2017.csv",
        dst / "load_ci_electroplating_2017_15min.csv",
        {"g_g_electroplating_w_per_mwh_a": "electroplating_w_per_mwh_a"},
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
