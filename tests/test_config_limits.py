"""Hostile configuration files: alias bombs and oversized files are refused quickly and clearly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phoenyra_ems.config import ConfigError, load_config, load_config_async, load_config_text

CLI = [sys.executable, "-m", "phoenyra_ems.cli"]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# "Billion laughs": 9 levels of 9 aliases each, under 1 KiB, expand to 9^9 ≈ 387 million nodes.
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
# The same with merge keys: each level merges the previous one twice (2^40 pairs flattened).
MERGE_BOMB = "m0: &m0 {x: 1}\n" + "".join(
    f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}\n" for i in range(1, 41)
)


@pytest.mark.parametrize("bomb", [ALIAS_BOMB, MERGE_BOMB], ids=["aliases", "merge-keys"])
def test_an_alias_bomb_is_refused_quickly_naming_the_problem(tmp_path: Path, bomb: str) -> None:
    assert len(bomb) < 2048
    file = tmp_path / "bomb.yaml"
    file.write_text(bomb)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(file)
    took = time.monotonic() - started
    assert took < 1.0, took
    [issue] = info.value.issues
    assert "too many aliases (YAML alias bomb?)" in issue.message
    assert issue.line is not None and issue.source == str(file)


def test_anchors_reused_by_hundreds_of_sites_still_work() -> None:
    sites = "".join(
        f"    s{i}:\n      bess: *bess\n      ems: {{<<: *ems}}\n      modbus: {{port: {5020 + i}}}\n"
        for i in range(1, 300)
    )
    text = (
        "sites:\n  sites:\n    s0:\n"
        "      bess: &bess {energy_capacity_kwh: 50, power_charge_max_kw: 20, power_discharge_max_kw: 20}\n"
        "      ems: &ems {cycle_s: 2, history_retention_days: 7}\n      modbus: {port: 5020}\n" + sites
    )
    config = load_config_text(text)
    assert len(config.sites) == 300
    assert {s.bess.energy_capacity_kwh for s in config.sites.values()} == {50}
    assert {s.ems.cycle_s for s in config.sites.values()} == {2}


def test_an_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    file = tmp_path / "huge.yaml"
    with file.open("w") as handle:
        handle.write("# padding\n" * 120_000)  # 1.2 MB of comments
    with pytest.raises(ConfigError) as info:
        load_config(file)
    [issue] = info.value.issues
    assert issue.source == str(file) and "file too large (1,200,000 bytes" in issue.message


@pytest.mark.parametrize("kind", ["bomb", "huge"])
def test_check_config_exits_1_with_one_clear_line(tmp_path: Path, kind: str) -> None:
    file = tmp_path / f"{kind}.yaml"
    file.write_text(ALIAS_BOMB if kind == "bomb" else "# padding\n" * 120_000)
    out = subprocess.run([*CLI, "check-config", str(file)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith(str(file)) and "Traceback" not in out.stderr
    assert ("alias bomb" if kind == "bomb" else "file too large") in lines[0]


async def test_load_config_async_parses_off_the_event_loop(tmp_path: Path) -> None:
    file = tmp_path / "bomb.yaml"
    file.write_text(ALIAS_BOMB)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    with pytest.raises(ConfigError):
        await load_config_async(file)
    config = await load_config_async(EXAMPLES / "ems.yaml")
    task.cancel()
    assert set(config.sites) == {"wien", "linz"}
    assert config.source == str(EXAMPLES / "ems.yaml")
    assert ticks > 0  # the loop kept running while the files were parsed
