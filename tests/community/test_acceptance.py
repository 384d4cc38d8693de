"""Acceptance: the demo's two sites + two external members over June 2024 of the shipped real data,
through the commands a user runs: settle, report, verify, prove / check-proof, export, reconcile."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from phoenyra_ems.cli import main

CONFIG = str(Path(__file__).resolve().parents[2] / "examples" / "community" / "ems-community.yaml")
MONTH = "2024-06"


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    folder = tmp_path_factory.mktemp("community")
    old = Path.cwd()
    os.chdir(folder)
    try:
        assert main(["community", "settle", "-c", CONFIG, "--month", MONTH, "--source", "simulated"]) == 0
    finally:
        os.chdir(old)
    return folder


def _run(folder: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.chdir(folder)
    return main(list(argv))


def test_month_settled_energy_and_money_balance(settled: Path) -> None:
    with (settled / f"settlement-eeg-donau-{MONTH}.csv").open() as handle:
        rows = {r["member"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"wien", "linz", "wohnanlage", "bauernhof"}
    assert all(int(r["intervals"]) == 2880 for r in rows.values())  # 30 days of quarter-hours
    received = sum(float(r["received_kwh"]) for r in rows.values())
    provided = sum(float(r["provided_kwh"]) for r in rows.values())
    assert received == pytest.approx(provided, abs=0.5) and received > 1000  # June: the PV is shared
    assert sum(float(r["net_eur"]) for r in rows.values()) == pytest.approx(0, abs=0.05)
    assert float(rows["wohnanlage"]["generation_kwh"]) == 0 and float(rows["wohnanlage"]["received_kwh"]) > 0
    for r in rows.values():
        assert float(r["received_kwh"]) <= float(r["consumption_kwh"]) + 1e-6


def test_report_verify_prove_export(settled: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert (
        _run(settled, monkeypatch, "community", "report", "-c", CONFIG, "--month", MONTH, "--member", "wien")
        == 0
    )
    report = (settled / f"report-eeg-donau-{MONTH}-wien.html").read_text()
    assert "<svg" in report and "wien" in report and "wohnanlage" not in report  # only its own figures
    assert _run(settled, monkeypatch, "ledger", "verify", "-c", CONFIG) == 0
    assert "OK: 2885 records" in capsys.readouterr().out  # key + 2880 intervals + 4 settlements
    assert _run(settled, monkeypatch, "ledger", "public-key", "-c", CONFIG) == 0
    (settled / "pub.pem").write_text(capsys.readouterr().out)
    assert (
        _run(
            settled,
            monkeypatch,
            "ledger",
            "prove",
            "-c",
            CONFIG,
            "--member",
            "bauernhof",
            "--month",
            MONTH,
            "-o",
            "proof.json",
        )
        == 0
    )
    assert _run(settled, monkeypatch, "ledger", "check-proof", "proof.json", "--public-key", "pub.pem") == 0
    assert "OK: 2881 records proven" in capsys.readouterr().out
    assert _run(settled, monkeypatch, "ledger", "export", "-c", CONFIG, "-o", "ledger.jsonl") == 0
    lines = [json.loads(line) for line in (settled / "ledger.jsonl").read_text().splitlines()]
    assert sum(1 for x in lines if x["type"] == "record") == 2885 and lines[-1]["type"] == "checkpoint"
    assert (
        _run(
            settled,
            monkeypatch,
            "community",
            "settle",
            "-c",
            CONFIG,
            "--month",
            MONTH,
            "--source",
            "simulated",
        )
        == 0
    )  # a second run appends nothing
    assert "0 intervals recorded, 2880 already" in capsys.readouterr().out


def test_reconcile_lists_the_differing_intervals(
    settled: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    db = sqlite3.connect(settled / "data" / "community" / "ledger.db")
    lines = ["timestamp_utc,member,received_kwh,provided_kwh"]
    for (body,) in db.execute("SELECT body FROM records WHERE kind = 'interval' ORDER BY seq"):
        data = json.loads(body)["data"]
        for member, values in data["members"].items():
            lines.append(f"{data['interval']},{member},{values[2]},{values[3]}")
    db.close()
    operator = settled / "operator.csv"
    operator.write_text("\n".join(lines) + "\n")
    assert (
        _run(
            settled,
            monkeypatch,
            "community",
            "reconcile",
            "-c",
            CONFIG,
            "--month",
            MONTH,
            "--operator",
            "operator.csv",
        )
        == 0
    )
    capsys.readouterr()
    lines[500] = lines[500].rsplit(",", 2)[0] + ",99.0,0"  # one interval differs
    del lines[1000]  # one missing at the operator
    operator.write_text("\n".join(lines) + "\n")
    assert (
        _run(
            settled,
            monkeypatch,
            "community",
            "reconcile",
            "-c",
            CONFIG,
            "--month",
            MONTH,
            "--operator",
            "operator.csv",
        )
        == 1
    )
    out = capsys.readouterr()
    listed = {line.split(",")[0] for line in out.out.splitlines()[1:]}
    assert len(listed) == 2 and "2 of 2880 intervals differ" in out.err
