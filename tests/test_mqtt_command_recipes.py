"""The recipes docs/mqtt.md gives makers, run as written: shell + openssl, the ESPHome header, the ACL.

Each recipe is taken from the documentation itself, so the docs cannot drift from what works.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiomqtt
import pytest

from phoenyra_ems.mqtt.command_auth import CommandAuthError, CommandVerifier
from tests.mqtt_broker import Broker, mosquitto_binary

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "mqtt.md").read_text()
KEY = "wien-command-key-0123456789"


def doc_block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS, re.S)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"one {language} block with {containing!r} in docs/mqtt.md"
    return str(found[0])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_documented_shell_recipe_signs_a_command_the_ems_accepts(tmp_path: Path) -> None:
    recipe = doc_block("sh", "openssl dgst")
    (tmp_path / "wien_command_key").write_text(KEY)
    fake_pub = 'mosquitto_pub() { while [ "$1" != -m ]; do shift; done; printf %s "$2"; }\n'
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", fake_pub + recipe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MQTT_PASSWORD": "x"},
        check=True,
    )
    command = json.loads(out.stdout)
    verifier = CommandVerifier(KEY)
    verifier.verify(command)  # raises if the recipe's canonical form or signature were off
    assert (command["mode"], command["setpoint_kw"]) == ("manual", -5)
    with pytest.raises(CommandAuthError, match="replayed"):
        verifier.verify(command)


@pytest.mark.skipif(
    shutil.which("g++") is None or not Path("/usr/include/openssl/hmac.h").is_file(),
    reason="needs g++ and the OpenSSL headers",
)
def test_the_esphome_header_builds_commands_the_ems_accepts(tmp_path: Path) -> None:
    main = tmp_path / "main.cpp"
    main.write_text(
        '#include <cstdio>\n#include <ctime>\n#include "phoenyra_sign.h"\n'
        "int main() {\n  uint32_t now = (uint32_t) time(nullptr);\n"
        f'  const char *key = "{KEY}";\n'
        '  puts(phoenyra_sign("\\"mode\\":\\"manual\\"", "\\"setpoint_kw\\":-5", key, now).c_str());\n'
        '  puts(phoenyra_sign("\\"id\\":\\"b1\\",\\"mode\\":\\"standby\\"", "", key, now).c_str());\n'
        '  puts(phoenyra_sign("\\"mode\\":\\"auto\\"", "\\"strategy\\":\\"arbitrage\\"", key, now)'
        ".c_str());\n"
        "}\n"
    )
    binary = tmp_path / "sign"
    include = ["-I", str(ROOT / "tests" / "esphome_shim"), "-I", str(ROOT / "examples" / "esphome")]
    subprocess.run(
        ["g++", "-std=c++17", "-w", *include, str(main), "-lcrypto", "-o", str(binary)],
        check=True,
        capture_output=True,
    )
    lines = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.splitlines()
    verifier = CommandVerifier(KEY)
    commands = [json.loads(line) for line in lines]
    for command in commands:
        verifier.verify(command)
    assert [c.get("id") for c in commands] == [None, "b1", None]
    assert commands[2]["strategy"] == "arbitrage"


# --- the documented ACL on a real mosquitto ------------------------------------------------------

USERS = ("ems", "wien-commander", "dashboard")


@pytest.fixture
def acl_broker(tmp_path: Path) -> Broker:
    binary, passwd = mosquitto_binary(), shutil.which("mosquitto_passwd")
    if binary is None or passwd is None:
        pytest.skip("mosquitto (with mosquitto_passwd) is not installed")
    broker = Broker(binary, tmp_path)
    passwords = tmp_path / "passwords"
    for user in USERS:
        create = ["-c"] if not passwords.exists() else []
        subprocess.run([passwd, *create, "-b", str(passwords), user, f"pw-{user}"], check=True)
    acl = tmp_path / "acl"
    acl.write_text(doc_block("conf", "user wien-commander"))
    text = broker.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    # as root, mosquitto would drop to the "mosquitto" user, who cannot read pytest's tmp_path
    user = f"user {getpass.getuser()}\n"
    broker.config.write_text(text + user + f"password_file {passwords}\nacl_file {acl}\n")
    return broker


def client(broker: Broker, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=f"pw-{user}",
        identifier=f"{user}-{time.monotonic_ns()}",
    )


async def received(client: aiomqtt.Client, expected: int, linger: float = 0.5) -> list[tuple[str, bytes]]:
    """The messages of ``client``: until ``expected`` arrived (at most 10 s), then ``linger`` s more for
    any that should not come (the forged ones were published before the expected ones)."""
    got: list[tuple[str, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    try:
        async with asyncio.timeout_at(deadline) as scope:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                got.append((str(message.topic), message.payload))
                if len(got) >= expected:
                    scope.reschedule(min(deadline, loop.time() + linger))
    except TimeoutError:
        pass
    return got


async def test_the_documented_acl_lets_only_the_ems_write_telemetry_and_only_senders_command(
    acl_broker: Broker,
) -> None:
    acl_broker.start()
    try:
        prefix = "phoenyra/sitewien"
        async with (
            client(acl_broker, "ems") as ems,
            client(acl_broker, "wien-commander") as commander,
            client(acl_broker, "dashboard") as dashboard,
        ):
            await ems.subscribe(f"{prefix}/commands")
            await commander.subscribe(f"{prefix}/#")
            await dashboard.subscribe(f"{prefix}/#")
            await asyncio.sleep(0.2)
            await dashboard.publish(f"{prefix}/telemetry", b'{"forged": true}')
            await dashboard.publish(f"{prefix}/commands/ack", b'{"forged": true}')
            await dashboard.publish(f"{prefix}/commands", b'{"from": "dashboard"}')
            await commander.publish(f"{prefix}/telemetry", b'{"forged": true}')
            await commander.publish(f"{prefix}/commands", b'{"from": "commander"}')
            await ems.publish(f"{prefix}/telemetry", b'{"real": true}')
            await ems.publish(f"{prefix}/commands/ack", b'{"ack": true}')
            to_ems, to_commander, to_dashboard = await asyncio.gather(
                received(ems, 1), received(commander, 2), received(dashboard, 1)
            )
        assert to_ems == [(f"{prefix}/commands", b'{"from": "commander"}')]
        assert sorted(to_commander) == [
            (f"{prefix}/commands/ack", b'{"ack": true}'),
            (f"{prefix}/telemetry", b'{"real": true}'),
        ]
        assert to_dashboard == [(f"{prefix}/telemetry", b'{"real": true}')]  # no commands, no acks
    finally:
        acl_broker.kill()
