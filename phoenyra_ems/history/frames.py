"""A site's recorded history as a pandas frame on a regular grid (p_load, p_pv, price): for the
forecasters, the backtest and the strategy selector, which all learn from it. Imports pandas: load
it only where those run (the daemon's core never does)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from phoenyra_ems.history.store import HistoryStore, database_path

if TYPE_CHECKING:
    from phoenyra_ems.config.model import SiteConfig


def history_frame(records: list[Any], step_s: int) -> pd.DataFrame:
    """History records (bucketed by the store) on a regular UTC grid; missing buckets are NaN."""
    if not records:
        return pd.DataFrame(columns=["p_load", "p_pv", "price"])
    index = pd.DatetimeIndex(pd.to_datetime([r.ts for r in records], unit="s", utc=True))
    frame = pd.DataFrame(
        {
            "p_load": [r.p_load for r in records],
            "p_pv": [r.p_pv for r in records],
            "price": [np.nan if r.price is None else r.price for r in records],
        },
        index=index,
    )
    frame = frame[~frame.index.duplicated()]
    grid = pd.date_range(index[0].floor(f"{step_s}s"), index[-1].floor(f"{step_s}s"), freq=f"{step_s}s")
    return frame.groupby(frame.index.floor(f"{step_s}s")).mean().reindex(grid)


def read_site_history(
    site: SiteConfig, step_s: int, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """A site's recorded history (its SQLite store) on a regular grid: p_load, p_pv, price.

    For the commands (forecast-eval, backtest), which run outside the daemon: its own event loop.
    """
    path = database_path(site.ems.history_dir, site.site_id)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no recorded history for site {site.site_id!r}")
    lo = start or datetime(1970, 1, 2, tzinfo=UTC)
    hi = end or datetime.now(UTC) + timedelta(days=1)
    return history_frame(asyncio.run(read_buckets(path, lo, hi, step_s)), step_s)


async def read_buckets(path: Path, start: datetime, end: datetime, step_s: int) -> list[Any]:
    """Step averages from a site's history file, on a connection of its own (WAL: never blocks writes)."""
    reader = HistoryStore(path, retention=timedelta(days=36500))  # reads only: retention never applied
    await reader.open()
    try:
        return await reader.query(start, end, step_s=step_s)
    finally:
        await reader.close()
