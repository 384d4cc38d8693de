"""The real data shipped in ``phoenyra_ems/data`` as forecasting frames (see its README for sources)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from phoenyra_ems.forecast.base import TARGET
from phoenyra_ems.series import DATA_DIR

if TYPE_CHECKING:
    from phoenyra_ems.forecast.pv import PvForecaster

# The DE-LU day-ahead generation forecasts (columns of ``prices()``) the price models read.
PRICE_EXOG = ("fc_total_mwh", "fc_pv_mwh", "fc_wind_mwh", "fc_residual_mwh")

KONSTANZ_FILE = "household_konstanz_2015_2017_hourly.csv"
PRICES_2023_FILE = "prices_at_de_lu_dayahead_2023_hourly.csv"
PRICES_2024_FILE = "prices_at_de_lu_dayahead_2024_hourly.csv"
GENERATION_FILE = "generation_forecast_de_lu_2023_2024_hourly.csv"
NREL_PV_FILE = "pv_weather_nrel_pvdaq50_hourly_2011_2013.csv"
NREL_PV_15MIN_FILE = "pv_nrel_pvdaq50_2012_15min.csv"
VDI_EFH_FILE = "load_household_vdi4657_efh_2019_15min.csv"

# NREL PVDAQ system 50, Golden (Colorado): 6 kW DC nameplate, tilt 45°, azimuth 158°.
NREL_PV_SITE: dict[str, float] = {
    "latitude": 39.742,
    "longitude": -105.173,
    "tilt_deg": 45.0,
    "azimuth_deg": 158.0,
    "peak_kw": 6.0,
    "altitude_m": 1800.0,
}
NREL_PV_TIMEZONE = "America/Denver"
KONSTANZ_SITE: dict[str, str] = {"timezone": "Europe/Berlin", "country": "DE"}


@lru_cache(maxsize=8)
def _read(name: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA_DIR / name)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp_utc"), utc=True))
    return frame.asfreq(frame.index[1] - frame.index[0])


def konstanz_load() -> pd.DataFrame:
    """One house in Konstanz, hourly mean kW, 2015-10 → 2017-02 (consumption clipped at 0)."""
    frame = _read(KONSTANZ_FILE)
    first = frame["household_load_kw"].first_valid_index()
    return pd.DataFrame({TARGET: frame["household_load_kw"].clip(lower=0.0)}).loc[first:]


def konstanz_pv() -> pd.Series:
    frame = _read(KONSTANZ_FILE)
    return frame["pv_kw"].clip(lower=0.0)


def vdi_household_load(annual_mwh: float = 4.0) -> pd.DataFrame:
    """A measured German single-family house (VDI 4657 reference), 15-min mean kW for 2019."""
    frame = _read(VDI_EFH_FILE)
    return pd.DataFrame({TARGET: frame["load_w_per_mwh_a"] * annual_mwh / 1000.0})


def nrel_pv() -> pd.DataFrame:
    """Measured PV (kW, hourly means) with the satellite weather of the same hour, 2011-04 → 2013."""
    frame = _read(NREL_PV_FILE)
    return pd.DataFrame(
        {
            TARGET: frame["pv_kw"].clip(lower=0.0),
            "ghi_w_m2": frame["ghi_w_m2"],
            "ghi_clearsky_w_m2": frame["ghi_clearsky_w_m2"],
            "temp_air_c": frame["temp_air_c"],
        }
    )


def nrel_pv_forecaster(peak_kw: float | None = None, nowcast_decay_h: float = 0.0) -> PvForecaster:
    """The pvlib model of the NREL PVDAQ system (its geometry; ``peak_kw`` to misconfigure it)."""
    from phoenyra_ems.forecast.pv import PvForecaster

    s = NREL_PV_SITE
    return PvForecaster(
        s["latitude"],
        s["longitude"],
        s["peak_kw"] if peak_kw is None else peak_kw,
        tilt_deg=s["tilt_deg"],
        azimuth_deg=s["azimuth_deg"],
        altitude_m=s["altitude_m"],
        nowcast_decay_h=nowcast_decay_h,
    )


def nrel_pv_15min() -> pd.Series:
    """Measured PV of the same system (kW, 15-min means), 2012; gaps NaN."""
    return _read(NREL_PV_15MIN_FILE)["pv_kw"].clip(lower=0.0)


def prices(zone: str = "at") -> pd.DataFrame:
    """Day-ahead prices 2023–2024 (EUR/MWh, hourly) with the DE-LU generation forecasts as features."""
    column = f"price_{zone}_eur_per_mwh"
    both = pd.concat([_read(PRICES_2023_FILE)[column], _read(PRICES_2024_FILE)[column]])
    both = both[~both.index.duplicated()].sort_index()
    generation = _read(GENERATION_FILE)
    frame = pd.DataFrame({TARGET: both})
    frame["fc_total_mwh"] = generation["fc_total_generation_mwh"].reindex(frame.index)
    frame["fc_pv_mwh"] = generation["fc_pv_mwh"].reindex(frame.index)
    frame["fc_wind_mwh"] = (generation["fc_wind_onshore_mwh"] + generation["fc_wind_offshore_mwh"]).reindex(
        frame.index
    )
    frame["fc_residual_mwh"] = frame["fc_total_mwh"] - frame["fc_pv_mwh"] - frame["fc_wind_mwh"]
    return frame.asfreq("1h")


VDI_MORE_FILE = "load_households_vdi4657_flat_efhwp_2019_15min.csv"
TOOL_FILE = "load_ci_tool_manufacturer_2018_15min.csv"
OFFICE_FILE = "load_ci_office_small_2015_15min.csv"
FURNITURE_FILE = "load_ci_furniture_store_2015_15min.csv"
ELECTROPLATING_FILE = "load_ci_electroplating_2017_15min.csv"


@dataclass(frozen=True)
class LoadSet:
    """A load data set of the benchmark with its site's zone, and a winter and a summer window."""

    name: str
    description: str
    timezone: str
    country: str | None
    winter: tuple[str, str]  # first and last origin day (local)
    summer: tuple[str, str]

    def load(self) -> pd.DataFrame:
        return LOAD_READERS[self.name]()


def _normalised(file: str, column: str, annual_mwh: float) -> pd.DataFrame:
    return pd.DataFrame({TARGET: _read(file)[column] * annual_mwh / 1000.0})


LOAD_READERS: dict[str, Callable[[], pd.DataFrame]] = {
    "vdi_efh": lambda: vdi_household_load(4.0),
    "vdi_flat": lambda: _normalised(VDI_MORE_FILE, "flat_w_per_mwh_a", 2.5),
    "vdi_efh_heat_pump": lambda: _normalised(VDI_MORE_FILE, "efh_heat_pump_w_per_mwh_a", 8.0),
    "konstanz": konstanz_load,
    "tool_manufacturer": lambda: _normalised(TOOL_FILE, "g_mv_tool_manufacturer_w_per_mwh_a", 1000.0),
    "office_small": lambda: _normalised(OFFICE_FILE, "office_small_w_per_mwh_a", 100.0),
    "furniture_store": lambda: _normalised(FURNITURE_FILE, "furniture_store_w_per_mwh_a", 200.0),
    "electroplating": lambda: _normalised(ELECTROPLATING_FILE, "electroplating_w_per_mwh_a", 1000.0),
}

# Tuned on vdi_efh in winter only; every other (set, season) is reported as it comes.
LOAD_SETS = (
    LoadSet(
        "vdi_efh",
        "VDI 4657 single-family house, 15 min, 4 MWh/a",
        "Europe/Berlin",
        "DE",
        ("2019-11-11", "2019-12-22"),
        ("2019-06-10", "2019-07-21"),
    ),
    LoadSet(
        "vdi_flat",
        "VDI 4657 flat, 15 min, 2.5 MWh/a",
        "Europe/Berlin",
        "DE",
        ("2019-11-11", "2019-12-22"),
        ("2019-06-10", "2019-07-21"),
    ),
    LoadSet(
        "vdi_efh_heat_pump",
        "VDI 4657 house with heat pump, 15 min, 8 MWh/a",
        "Europe/Berlin",
        "DE",
        ("2019-11-11", "2019-12-22"),
        ("2019-06-10", "2019-07-21"),
    ),
    LoadSet(
        "konstanz",
        "Konstanz house (OPSD), 1 h",
        "Europe/Berlin",
        "DE",
        ("2016-11-11", "2016-12-22"),
        ("2016-06-10", "2016-07-21"),
    ),
    LoadSet(
        "tool_manufacturer",
        "tool manufacturer, 15 min, 1 GWh/a",
        "Europe/Berlin",
        "DE",
        ("2018-11-12", "2018-12-21"),
        ("2018-06-11", "2018-07-20"),
    ),
    LoadSet(
        "office_small",
        "small office, 15 min, 100 MWh/a",
        "Europe/Berlin",
        "DE",
        ("2015-11-09", "2015-12-20"),
        ("2015-06-08", "2015-07-19"),
    ),
    LoadSet(
        "furniture_store",
        "furniture store, 15 min, 200 MWh/a",
        "Europe/Berlin",
        "DE",
        ("2015-11-09", "2015-12-20"),
        ("2015-06-08", "2015-07-19"),
    ),
    LoadSet(
        "electroplating",
        "electroplating plant, 15 min, 1 GWh/a",
        "Europe/Berlin",
        "DE",
        ("2017-11-06", "2017-12-17"),
        ("2017-06-05", "2017-07-16"),
    ),
)
