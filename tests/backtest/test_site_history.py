"""Both commands on a configured site's own recorded history (its SQLite database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from phoenyra_ems.forecast.datasets import konstanz_load, konstanz_pv
from phoenyra_ems.history.store import HistoryRecord, HistoryStore, database_path
from tests.backtest.test_backtest_cli import main

DAYS = 20
END = datetime(2016, 7, 10, tzinfo=UTC)
CONFIG = """
sites:
  default_site_id: home
  sites:
    home:
      name: Home
      location: {{city: Konstanz, latitude: 47.66, longitude: 9.18, timezone: Europe/Berlin}}
      bess: {{energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}}
      modbus: {{host: 127.0.0.1, port: 1502}}
      forecast: {{pv_peak_power_kw: 10}}
      grid_tariffs: {{energy_price_markup_eur_mwh: 150, feedin_pricing: spot}}
      ems: {{history_dir: "{history}"}}
"""


async def record(path: Path, with_prices: bool = True) -> None:
    """The Konstanz house's load and PV over 20 days, with a day-ahead-like price, as a site records them."""
    load = konstanz_load()["y"]
    pv = konstanz_pv()
    store = HistoryStore(path, retention=timedelta(days=36500), batch_size=10_000)
    await store.open()
    for k in range(DAYS * 24 * 4):
        when = END - timedelta(days=DAYS) + timedelta(minutes=15 * k)
        hour = when.replace(minute=0)
        p_load = float(np.nan_to_num(load.get(hour, 0.5), nan=0.5))
        p_pv = float(np.nan_to_num(pv.get(hour, 0.0), nan=0.0))
        price = 60 + 50 * np.sin(2 * np.pi * (when.hour - 6) / 24) if with_prices else None
        await store.append(
            HistoryRecord(
                when.timestamp(), 50, 100, 25, 0, p_pv, p_load, p_load - p_pv, price, 0, None, "auto", "ok"
            )
        )
    await store.close()


@pytest.fixture
def site_config(tmp_path: Path) -> Path:
    file = tmp_path / "ems.yaml"
    file.write_text(CONFIG.format(history=tmp_path))
    return file


def test_backtest_replays_the_sites_own_history(
    site_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(record(database_path(tmp_path, "home")))
    assert main(["backtest", "-c", str(site_config), "--history", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "site home: its recorded history, 1h steps" in out
    for run in ("self_consumption", "selection", "perfect foresight"):
        assert run in out
    assert "hard-limit violations in the replays: 0" in out


def test_backtest_history_without_prices_or_without_a_database_says_why(
    site_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "-c", str(site_config), "--history", "--no-progress"]) == 1
    assert "no recorded history for site 'home'" in capsys.readouterr().err
    asyncio.run(record(database_path(tmp_path, "home"), with_prices=False))
    assert main(["backtest", "-c", str(site_config), "--history", "--no-progress"]) == 1
    assert "has no prices" in capsys.readouterr().err
    assert main(["backtest", "--history", "--no-progress"]) == 1
    assert "give -c/--config" in capsys.readouterr().err


def test_forecast_eval_scores_the_sites_own_load_and_pv(
    site_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(record(database_path(tmp_path, "home")))
    assert main(["forecast-eval", "-c", str(site_config), "--days", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "site home: recorded load (kW): 2 origins" in out
    assert "site home: recorded PV (kW)" in out
    for model in ("persistence", "gbm", "ensemble", "pvlib"):
        assert f"\n{model} " in out
    assert "skill per horizon" in out
