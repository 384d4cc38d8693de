"""The host field takes what people type (URL, host:port); certificate refused; reconfigure; icons."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path

import pytest
from homeassistant import config_entries
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.phoenyra.config_flow import parse_host
from custom_components.phoenyra.const import CONF_TLS, CONF_VERIFY_SSL, DOMAIN
from tests_ha.conftest import REPO, DaemonProcess, setup_entry, unload

from .daemon_process import _free_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ems.local", ("ems.local", 8080, False)),
        (" 127.0.0.1 ", ("127.0.0.1", 8080, False)),
        ("http://127.0.0.1", ("127.0.0.1", 8080, False)),
        ("127.0.0.1:8443", ("127.0.0.1", 8443, False)),
        ("https://127.0.0.1/", ("127.0.0.1", 8080, True)),
        ("HTTPS://EMS.local:9443", ("ems.local", 9443, True)),
        ("[fd00::5]:8081", ("fd00::5", 8081, False)),
        ("fd00::5", ("fd00::5", 8080, False)),
    ],
)
def test_parse_host_accepts(text: str, expected: tuple[str, int, bool]) -> None:
    assert parse_host(text, 8080, False) == expected


def test_parse_host_http_clears_tls() -> None:
    assert parse_host("http://ems.local:8080", 1234, True) == ("ems.local", 8080, False)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "http://127.0.0.1:abc",
        "127.0.0.1:99999",
        "127.0.0.1:0",
        "ftp://ems.local",
        "ems.local/api",
        "http://ems.local/api/v1",
        "user:pw@ems.local",
        "ems local",
        "fd00::zz",
        "http://:8080",
    ],
)
def test_parse_host_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host(text, 8080, False)


async def _configure(hass: HomeAssistant, data: dict) -> dict:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    return await hass.config_entries.flow.async_configure(result["flow_id"], data)


@pytest.mark.parametrize("host", ["http://127.0.0.1", "127.0.0.1:{port}", "http://127.0.0.1:{port}/"])
async def test_user_flow_takes_url_and_host_port(
    hass: HomeAssistant, shared_daemon: DaemonProcess, host: str
) -> None:
    port = shared_daemon.port
    # with host:port in the text the port field is overridden (1 would fail)
    field_port = port if "{port}" not in host else 1
    data = {
        CONF_HOST: host.format(port=port),
        CONF_PORT: field_port,
        CONF_TOKEN: shared_daemon.admin_token,
        CONF_TLS: host.startswith("http://"),  # "http://" clears the checkbox
        CONF_VERIFY_SSL: True,
    }
    result = await _configure(hass, data)
    assert result["type"] == FlowResultType.CREATE_ENTRY, result
    assert result["data"][CONF_HOST] == "127.0.0.1"
    assert result["data"][CONF_PORT] == port
    assert result["data"][CONF_TLS] is False
    await hass.async_block_till_done()
    await unload(hass, result["result"])


async def test_user_flow_https_url_to_plain_daemon_is_a_form_error(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    data = {
        CONF_HOST: "https://127.0.0.1/",
        CONF_PORT: shared_daemon.port,
        CONF_TOKEN: shared_daemon.admin_token,
        CONF_TLS: False,
        CONF_VERIFY_SSL: True,
    }
    result = await _configure(hass, data)
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


@pytest.mark.parametrize("host", ["http://127.0.0.1:abc", "127.0.0.1/api", "ftp://127.0.0.1"])
async def test_user_flow_bad_host_is_a_field_error(hass: HomeAssistant, host: str) -> None:
    data = {CONF_HOST: host, CONF_PORT: 8080, CONF_TOKEN: "phx_x", CONF_TLS: False, CONF_VERIFY_SSL: True}
    result = await _configure(hass, data)
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {CONF_HOST: "invalid_host"}


_HTTPS_SERVER = """
import http.server, ssl, sys
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.BaseHTTPRequestHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"""


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Generator[int, None, None]:
    """An HTTPS server with a self-signed certificate on loopback (its own process: the refused
    handshakes are not errors of Home Assistant's event loop); yields its port."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _HTTPS_SERVER, str(port), str(cert), str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield port
    finally:
        proc.kill()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_user_flow_self_signed_certificate_refused(hass: HomeAssistant, self_signed_https: int) -> None:
    data = {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: self_signed_https,
        CONF_TOKEN: "phx_x",
        CONF_TLS: True,
        CONF_VERIFY_SSL: True,
    }
    result = await _configure(hass, data)
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "certificate_refused"}


async def _reconfigure(hass: HomeAssistant, entry_id: str, data: dict) -> dict:
    # Home Assistant 2024.4+ starts this from the entry's menu; 2024.3's flow manager runs any step
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "reconfigure", "entry_id": entry_id}
    )
    assert result["type"] == FlowResultType.FORM and result["step_id"] == "reconfigure"
    return await hass.config_entries.flow.async_configure(result["flow_id"], data)


async def test_reconfigure_changes_address_keeps_token(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    entry = await setup_entry(hass, shared_daemon)
    result = await _reconfigure(
        hass,
        entry.entry_id,
        {CONF_HOST: "http://127.0.0.1", CONF_PORT: _free_port(), CONF_TLS: False, CONF_VERIFY_SSL: True},
    )
    assert result["type"] == FlowResultType.FORM and result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: f"localhost:{shared_daemon.port}", CONF_PORT: 1, CONF_TLS: False, CONF_VERIFY_SSL: False},
    )
    assert result["type"] == FlowResultType.ABORT and result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_HOST] == "localhost"
    assert entry.data[CONF_PORT] == shared_daemon.port
    assert entry.data[CONF_VERIFY_SSL] is False
    assert entry.data[CONF_TOKEN] == shared_daemon.admin_token
    assert entry.state is config_entries.ConfigEntryState.LOADED
    await unload(hass, entry)


async def test_reconfigure_refuses_another_installation(
    hass: HomeAssistant, shared_daemon: DaemonProcess, own_daemon: DaemonProcess
) -> None:
    """The entry belongs to shared_daemon's installation; own_daemon (another one) answers at the new
    address with a token it accepts: refused, the entry unchanged."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=shared_daemon.instance_id,
        data={**shared_daemon.entry_data(), CONF_TOKEN: own_daemon.admin_token},
    )
    entry.add_to_hass(hass)
    result = await _reconfigure(
        hass,
        entry.entry_id,
        {CONF_HOST: "127.0.0.1", CONF_PORT: own_daemon.port, CONF_TLS: False, CONF_VERIFY_SSL: True},
    )
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "another_instance"}
    assert entry.data[CONF_PORT] == shared_daemon.port


def test_service_icons_use_the_2024_3_format() -> None:
    """2024.3-2024.8 read a plain string per service; 2024.9+ accepts it as a shorthand."""
    icons = json.loads((REPO / "custom_components" / "phoenyra" / "icons.json").read_text())
    services = set(json.loads(json.dumps(icons["services"])))
    assert services == {"set_setpoint", "set_mode"}
    assert all(isinstance(v, str) and v.startswith("mdi:") for v in icons["services"].values())
