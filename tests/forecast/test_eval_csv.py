"""``phoenyra-ems forecast-eval --data``: a user's own CSV, a window of origins, and bad input refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phoenyra_ems.cli import main

FAST = ["--models", "persistence,week_ago,profile_7d,profile_3d,given", "--no-progress"]


def write_csv(path: Path, step: str, days: int = 17, start: str = "2024-01-01") -> pd.DataFrame:
    """A household-like day (night base, evening peak) with noise, PV and a price; 16+ days."""
    index = pd.date_range(
        start, periods=int(pd.Timedelta(days=days) / pd.Timedelta(step)), freq=step, tz="UTC"
    )
    rng = np.random.default_rng(1)
    hour = np.asarray(index.hour + index.minute / 60, dtype=float)
    frame = pd.DataFrame(
        {
            "timestamp_utc": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "load_kw": np.round(0.3 + 0.5 * ((hour > 16) & (hour < 21)) + rng.gamma(2, 0.05, len(index)), 3),
            "pv_kw": np.round(
                np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * rng.uniform(1, 3, len(index)), 3
            ),
            "price_eur_per_mwh": np.round(80 + 30 * np.sin(hour / 24 * 2 * np.pi), 2),
        }
    )
    frame.to_csv(path, index=False)
    return frame


def model_rows(out: str) -> dict[str, list[float]]:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[0] in ("persistence", "week_ago", "profile_7d", "profile_3d", "given"):
            rows.setdefault(parts[0], [float(parts[1])])
    return rows


@pytest.mark.parametrize(("step", "per_hour"), [("15min", 4), ("30min", 2)])
def test_a_window_of_origins_on_15_and_30_min_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, per_hour: int
) -> None:
    csv = tmp_path / "site.csv"
    write_csv(csv, step, days=18)
    code = main(
        [
            "forecast-eval",
            "--data",
            str(csv),
            "--target",
            "load",
            "--from",
            "2024-01-16",
            "--to",
            "2024-01-17",
            "--timezone",
            "Europe/Berlin",
            *FAST,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    # Local midnights in Berlin (UTC+1): the two origins of the window, and the step of the file.
    assert "2 origins, 48 h ahead (2024-01-15 23:00 → 2024-01-16 23:00 UTC)" in out
    assert f"({60 // per_hour} min, kW)" in out
    rows = model_rows(out)
    assert set(rows) == {"persistence", "week_ago", "profile_7d"}
    assert all(np.isfinite(v[0]) and v[0] > 0 for v in rows.values())


def test_a_pv_forecast_the_user_has_is_scored_beside_the_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "site.csv"
    frame = write_csv(csv, "1h")
    frame["pv_forecast_kw"] = frame["pv_kw"]  # a perfect forecast: zero error
    frame.to_csv(csv, index=False)
    assert main(["forecast-eval", "--data", str(csv), "--target", "pv", "--days", "1", *FAST]) == 0
    rows = model_rows(capsys.readouterr().out)
    assert rows["given"] == [0.0] and rows["persistence"][0] > 0


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["forecast-eval", *argv, *FAST]) == 1
    return capsys.readouterr().err


def test_a_reversed_window_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "site.csv"
    write_csv(csv, "30min")
    err = refused(["--data", str(csv), "--from", "2024-01-16", "--to", "2024-01-15"], capsys)
    assert "--from 2024-01-16 is after --to 2024-01-15" in err


@pytest.mark.parametrize(("option", "day"), [("--from", "2024-01-03"), ("--to", "2024-03-01")])
def test_a_window_outside_the_data_names_the_option_and_the_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, day: str
) -> None:
    csv = tmp_path / "site.csv"
    write_csv(csv, "30min")
    err = refused(["--data", str(csv), "--target", "load", option, day, "--timezone", "UTC"], capsys)
    assert f"{option} {day} is outside the data" in err
    assert "site.csv covers 2024-01-01 00:00 → 2024-01-18 00:00 UTC" in err
    assert "the window can be 2024-01-15 → 2024-01-16" in err


def test_gaps_are_refused_with_row_and_time_not_interpolated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "site.csv"
    frame = write_csv(csv, "30min")
    frame.loc[100, "load_kw"] = np.nan
    frame.to_csv(csv, index=False)
    err = refused(["--data", str(csv), "--target", "load"], capsys)
    assert f"{csv}:102: load_kw is empty at 2024-01-03 02:00 UTC" in err
    frame.drop(index=[200, 201]).to_csv(csv, index=False)
    err = refused(["--data", str(csv), "--target", "pv"], capsys)
    assert f"{csv}:202: 2024-01-05 05:00 follows 2024-01-05 03:30 (step 30 min" in err


def test_a_step_that_does_not_divide_a_day_and_a_bad_zone_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "site.csv"
    write_csv(csv, "7h", days=30)
    assert "does not divide a day" in refused(["--data", str(csv)], capsys)
    write_csv(csv, "1h")
    assert "--timezone 'Mars/Olympus' is not an IANA time zone" in refused(
        ["--data", str(csv), "--timezone", "Mars/Olympus"], capsys
    )
    assert "--from/--to need --data" in refused(["--from", "2024-01-15"], capsys)
