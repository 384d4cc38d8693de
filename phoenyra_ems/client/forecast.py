"""Typed view of ``GET /sites/{id}/forecast``: a site's latest load and PV forecast (docs/forecasting.md).

Wire models like :mod:`phoenyra_ems.client.models`: the daemon fills and dumps them (``api/app.py``),
the client parses them, ``api/openapi.py`` derives the schema from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from phoenyra_ems.client.wire import Wire, spec

__all__ = ["Forecast", "ForecastFit", "SiteForecast"]


@dataclass(frozen=True, slots=True)
class ForecastFit(Wire):
    """When the site's forecaster was last fitted, on how many rows, in how long."""

    fitted_at: datetime
    rows: int
    fit_s: float = field(metadata=spec(digits=3))


_FORECAST_KW = spec(digits=4)


@dataclass(frozen=True, slots=True)
class Forecast(Wire):
    """A site's latest load (and PV) forecast: one value per step from ``start``."""

    PATH: ClassVar[str] = "forecast"
    made_at: datetime
    start: datetime
    step_s: int
    load_kw: tuple[float, ...] = field(metadata=_FORECAST_KW)
    pv_kw: tuple[float, ...] | None = field(metadata=_FORECAST_KW)
    pv_source: str | None  # "weather" | "clear-sky fallback"
    predict_ms: float | None = field(default=None, metadata=spec(digits=2))
    # an ensemble's members' load forecasts
    members: dict[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SiteForecast(Wire):
    """``GET /sites/{id}/forecast``: whether the site forecasts, and its latest forecast if any."""

    PATH: ClassVar[str] = "forecast"
    site_id: str
    enabled: bool
    forecast: Forecast | None
    last_error: str | None
    last_fit: ForecastFit | None = None
