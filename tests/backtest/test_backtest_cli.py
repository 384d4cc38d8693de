"""``phoenyra-ems backtest`` and ``phoenyra-ems forecast-eval`` as a user runs them (in process)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from phoenyra_ems import cli

STRATEGIES = ("arbitrage", "peak_shaving", "self_consumption", "load_balancing")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WEEK = ["--from", "2024-06-01", "--to", "2024-06-08", "--no-progress"]


def main(argv: list[str]) -> int:
    """``phoenyra-ems ARGV`` in process; the root logger's handlers and level are put back afterwards.

    The CLI's ``setup_logging`` replaces the root handlers (pytest's capture handlers among them).
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return cli.main(argv)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def table_rows(text: str) -> dict[str, list[str]]:
    """First word of each line -> the rest, split on whitespace (numbers of the report tables)."""
    rows = {}
    for line in text.splitlines():
        words = line.split()
        if words:
            rows.setdefault(words[0], words[1:])
    return rows


def test_backtest_prints_the_table_and_writes_a_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "b.png"
    assert main(["backtest", *WEEK, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    for name in (*STRATEGIES, "selection", "no battery", "perfect foresight"):
        assert name in out, name
    assert "hard-limit violations in the replays: 0" in out
    assert "7 days" in out
    rows = table_rows(out)
    bound_share = float(rows["perfect"][-2])  # "perfect foresight (LP)  cost  saved  100.0  cycles"
    assert bound_share == 100.0
    for name in STRATEGIES:
        _cost, _saved, share = (float(v) for v in rows[name][:3])
        assert share <= 100.0 + 0.1, (name, share)
    assert f"plot: {plot}" in out
    data = plot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_backtest_writes_an_svg_for_an_svg_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "b.svg"
    assert main(["backtest", *WEEK, "--strategies", "self_consumption", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "self_consumption" in out and "selection" in out
    assert "arbitrage" not in out  # only the strategies asked for
    text = plot.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")


def test_backtest_with_a_missing_data_file_exits_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.csv"
    assert main(["backtest", "--data", str(missing), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "missing.csv" in captured.err
    assert "perfect foresight" not in captured.out


def test_backtest_with_a_bad_row_exits_1_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "site.csv"
    csv.write_text(
        "timestamp_utc,load_kw,pv_kw,price_eur_per_mwh\n"
        "2024-06-03T00:00:00Z,1,0,50\n2024-06-03T01:00:00Z,1,0,fifty\n2024-06-03T02:00:00Z,1,0,50\n"
    )
    assert main(["backtest", "--data", str(csv), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:3:" in err and "price_eur_per_mwh" in err


def test_backtest_rejects_an_unknown_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", *WEEK, "--strategies", "self_consumption,moon_phase"]) == 1
    assert "moon_phase" in capsys.readouterr().err


def test_forecast_eval_pv_prints_scores_and_writes_the_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "x.svg"
    assert main(["forecast-eval", "--target", "pv", "--days", "5", "--no-progress", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "5 origins, 48 h ahead" in out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert "MAE" in header and "skill" in header
    rows = table_rows(out)
    for model in ("persistence", "week_ago", "pvlib"):
        assert model in rows, model
    mae = {model: float(rows[model][0]) for model in ("persistence", "pvlib")}
    skill = {model: float(rows[model][3].rstrip("%")) for model in ("persistence", "pvlib")}
    assert mae["persistence"] > 0 and mae["pvlib"] > 0
    assert skill["persistence"] == 0.0
    assert skill["pvlib"] > 10.0  # recorded weather beats yesterday's power by a clear margin
    assert mae["pvlib"] < mae["persistence"]
    text = plot.read_text(encoding="utf-8")
    assert "<svg" in text and f"plot: {plot}" in out


VALUE_DAYS = ["forecast-eval", "--value", "--from", "2024-06-01", "--to", "2024-06-04", "--no-progress"]


def test_forecast_eval_value_with_models_replays_only_the_named_forecasters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One forecaster per process (a year each): the perfect-forecasts replay only when named."""
    assert main([*VALUE_DAYS, "--models", "persistence"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert "persistence" in rows and "history" not in rows and "ensemble" not in rows
    assert "perfect forecasts" not in out
    assert "earns the most: persistence" in out
    assert main([*VALUE_DAYS, "--models", "history,perfect"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert "perfect forecasts" in out
    history, perfect = float(rows["history"][2]), float(rows["perfect"][2])  # % of the bound
    assert history <= perfect <= 100.0 + 0.1  # perfect forecasts: the sanity check, near the bound
    assert "earns the most: history baseline" in out  # a sanity row is not a forecaster


def test_forecast_eval_value_refuses_models_it_cannot_judge(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*VALUE_DAYS, "--models", "moon_phase"]) == 1
    assert "moon_phase" in capsys.readouterr().err


def test_forecast_eval_value_judges_each_part_of_the_forecast_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PV model and price profile each against the baselines, then all parts at once (the service)."""
    days = ["forecast-eval", "--value", "--from", "2024-06-01", "--to", "2024-06-20", "--no-progress"]
    assert main([*days, "--target", "pv", "--models", "history,pvlib,forecast_service"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert "pvlib" in rows and "history" in rows
    assert "forecast_service" not in rows and "price_profile" not in rows  # --target pv: PV rows only
    load_mae, pv_mae = 2, 3  # columns after the name's words: saved, %, load MAE, PV MAE, price MAE
    history, pvlib = rows["history"][1:], rows["pvlib"]
    assert pvlib[load_mae] == history[load_mae]  # the same load baseline ...
    assert pvlib[pv_mae] != history[pv_mae]  # ... but the PV model's own forecasts (16 days in)
    assert main([*days, "--models", "pvlib,price_profile,forecast_service"]) == 0
    rows = table_rows(capsys.readouterr().out)
    service, pvlib, prices = rows["forecast_service"], rows["pvlib"], rows["price_profile"]
    assert service[pv_mae] == pvlib[pv_mae] and service[pv_mae + 1] == prices[pv_mae + 1]
    assert prices[pv_mae + 1] != pvlib[pv_mae + 1]  # the price profile forecasts other prices
    assert service[load_mae] != pvlib[load_mae]  # the service plans with its load ensemble too


def test_forecast_eval_value_bounds_what_a_better_forecast_of_each_input_can_earn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """perfect_pv plans with the PV that came and the baselines' load and prices: between the
    baseline and perfect forecasts of everything; it is a bound, never 'the forecaster that earns
    the most'."""
    days = ["forecast-eval", "--value", "--from", "2024-06-01", "--to", "2024-06-20", "--no-progress"]
    assert main([*days, "--target", "pv", "--models", "history,perfect_pv,perfect"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    history, part, everything = rows["history"][1:], rows["perfect_pv"], rows["perfect"][1:]
    saved, load_mae, pv_mae = 0, 2, 3
    assert float(history[saved]) < float(part[saved]) < float(everything[saved])
    assert part[pv_mae] == "0.000" and part[load_mae] == history[load_mae]
    assert "earns the most: history baseline" in out
