"""The commands as a user meets them: in --help, one-line errors naming the file and line."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from phoenyra_ems.cli import build_parser, main

SITES = """\
sites:
  sites:
    wien:
      bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}
"""


def test_commands_listed_in_help() -> None:
    text = build_parser().format_help()
    assert "community" in text and "ledger" in text
    sub = {a.dest: a for a in build_parser()._actions if a.dest == "command"}["command"]
    assert {"settle", "report", "reconcile", "allocate"} <= set(sub.choices["community"]._actions[-1].choices)
    assert {"verify", "prove", "check-proof", "export"} <= set(sub.choices["ledger"]._actions[-1].choices)


def test_check_config_summarises_the_community(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "community" / "ems-community.yaml"
    assert main(["check-config", str(example)]) == 0
    assert "community eeg-donau: 4 members (2 sites, 2 external), key dynamic" in capsys.readouterr().out


def _config(tmp_path: Path, csv_text: str) -> Path:
    (tmp_path / "ext.csv").write_text(csv_text)
    path = tmp_path / "ems.yaml"
    path.write_text(
        SITES + f"community:\n  id: c\n  ledger: {{path: {tmp_path}/l.db, key_dir: {tmp_path}/k}}\n"
        "  members:\n    ext: {csv: ext.csv}\n    wien: {site: wien}\n"
    )
    return path


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(
        tmp_path,
        "timestamp_utc,consumption_kwh\n2024-06-01T00:00:00Z,1.0\n2024-06-01T00:15:00Z,lots\n",
    )
    assert main(["community", "settle", "-c", str(config), "--month", "June"]) == 1
    assert "month 'June': expected YYYY-MM" in capsys.readouterr().err
    assert (
        main(["community", "settle", "-c", str(config), "--month", "2024-06", "--source", "simulated"]) == 1
    )
    assert f"{tmp_path / 'ext.csv'}:3: consumption_kwh is not a number: 'lots'" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()  # nothing signed, no key made
    (tmp_path / "ext.csv").write_text("timestamp_utc,consumption_kwh\n2024-06-01T00:00:00Z,1.0\n")
    assert main(["community", "settle", "-c", str(config), "--month", "2024-06"]) == 1
    assert "no recorded history for site 'wien'" in capsys.readouterr().err
    assert main(["ledger", "verify", "--ledger", str(tmp_path / "none.db")]) == 1
    assert "no such ledger" in capsys.readouterr().err
    assert main(["community", "report", "-c", str(config), "--month", "2024-06"]) == 1
    assert "no intervals of 2024-06 in the ledger" in capsys.readouterr().err
    plain = tmp_path / "plain.yaml"
    plain.write_text(SITES)
    assert main(["community", "settle", "-c", str(plain), "--month", "2024-06"]) == 1
    assert "no community: block" in capsys.readouterr().err


def test_only_ended_quarter_hours_are_recorded_and_a_running_month_is_not_settled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from phoenyra_ems.community import service
    from phoenyra_ems.config.loader import load_config

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    month = now.astimezone(ZoneInfo("Europe/Vienna")).strftime("%Y-%m")
    config_path = _config(tmp_path, "timestamp_utc,consumption_kwh\n")
    config = load_config(config_path)
    assert config.community is not None
    with service.ledger_for(config.community) as ledger:
        run = service.allocate_month(config, config.community, ledger, month, "simulated", now)
        assert run.appended == 0 and run.waiting == run.intervals  # the external meter's data: not yet
        run = service.allocate_month(
            config, config.community, ledger, month, "simulated", now, allow_missing=True
        )
        recorded = [r.period for r in ledger.records("interval")]
    assert run.appended == len(recorded) == run.intervals  # the month so far, nothing beyond
    if recorded:  # (none in the first quarter-hour of a month)
        last_end = datetime.fromisoformat(max(recorded).replace("Z", "+00:00")) + timedelta(minutes=15)
        assert now - timedelta(minutes=15) < last_end <= now
    assert (
        main(["community", "settle", "-c", str(config_path), "--month", month, "--source", "simulated"]) == 1
    )
    assert "is not over yet" in capsys.readouterr().err
    assert (
        main(["community", "settle", "-c", str(config_path), "--month", "2024-06", "--source", "simulated"])
        == 1
    )
    out = capsys.readouterr()
    assert "ext: no data for 2880 intervals (those intervals wait for the data)" in out.out
    assert "2880 of 2880 intervals are not recorded yet" in out.err and "--allow-missing" in out.err
