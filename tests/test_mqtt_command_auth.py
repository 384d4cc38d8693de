"""The command verifier alone: a forgotten nonce never reopens a replay, and memory stays bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phoenyra_ems.api.json_limits import too_deep
from phoenyra_ems.mqtt.command_auth import CommandAuthError, CommandVerifier, sign_command

KEY = "wien-command-key-0123456789"
T0 = 1_800_000_000


def test_a_forgotten_nonce_never_reopens_a_replay() -> None:
    verifier = CommandVerifier(KEY, max_age_s=30)
    command = sign_command({"mode": "standby"}, KEY, now=T0 + 30)  # the sender's clock runs 30 s ahead
    verifier.verify(command, now=T0)
    for now in (T0 + 1, T0 + 59, T0 + 60):
        with pytest.raises(CommandAuthError, match="replayed"):
            verifier.verify(command, now=now)
    for now in (T0 + 61, T0 + 3600):  # the nonce is forgotten, and the command is stale by then
        with pytest.raises(CommandAuthError, match="stale"):
            verifier.verify(command, now=now)


def test_nonces_are_remembered_only_for_one_window() -> None:
    verifier = CommandVerifier(KEY, max_age_s=30)
    for i in range(500):
        verifier.verify(sign_command({"mode": "auto"}, KEY, now=T0, nonce=f"n{i}"), now=T0)
    assert verifier.remembered == 500
    verifier.verify(sign_command({"mode": "auto"}, KEY, now=T0 + 31, nonce="later"), now=T0 + 31)
    assert verifier.remembered == 1


def test_commands_signed_before_the_start_are_stale() -> None:
    verifier = CommandVerifier(KEY, max_age_s=30, not_before=T0)
    with pytest.raises(CommandAuthError, match="stale"):  # captured before a restart, replayed after it
        verifier.verify(sign_command({"mode": "auto"}, KEY, now=T0 - 5), now=T0 + 1)
    verifier.verify(sign_command({"mode": "auto"}, KEY, now=T0), now=T0 + 1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sig": None}, "bad signature"),
        ({"sig": "é" * 64}, "bad signature"),  # non-ASCII must not raise out of compare_digest
        ({"ts": "1800000000"}, "ts must be UNIX seconds"),
        ({"ts": True}, "ts must be UNIX seconds"),
        ({"nonce": ""}, "nonce must be"),
        ({"nonce": "x" * 65}, "nonce must be"),
    ],
)
def test_malformed_auth_fields_are_rejected(change: dict[str, object], reason: str) -> None:
    command = {"mode": "auto", "ts": T0, "nonce": "n1", **change}
    if "sig" not in change:
        command = sign_command(command, KEY, now=command["ts"], nonce=command["nonce"])  # type: ignore[arg-type]
    with pytest.raises(CommandAuthError, match=reason):
        CommandVerifier(KEY).verify(command, now=T0)


def test_uppercase_hex_signatures_are_accepted() -> None:
    command = sign_command({"mode": "auto"}, KEY, now=T0)
    command["sig"] = command["sig"].upper()
    CommandVerifier(KEY).verify(command, now=T0)


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert not too_deep('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["}', 32)
    assert not too_deep("[" * 32 + "]" * 32, 32)
    assert too_deep("[" * 33 + "]" * 33, 32)


def test_mqtt_sign_explains_a_missing_key_and_bad_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from phoenyra_ems.cli import main

    config = tmp_path / "ems.yaml"
    config.write_text(
        "bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}\n"
        "mqtt: {enabled: true}\n"
    )
    assert main(["mqtt-sign", "-c", str(config), '{"mode":"standby"}']) == 1
    assert "has no mqtt.command_key" in capsys.readouterr().err
    config.write_text(config.read_text().replace("{enabled: true}", f"{{enabled: true, command_key: {KEY}}}"))
    assert main(["mqtt-sign", "-c", str(config), "{mode: standby}"]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["mqtt-sign", "-c", str(config), '{"mode":"standby"}']) == 0
    CommandVerifier(KEY).verify(json.loads(capsys.readouterr().out))
