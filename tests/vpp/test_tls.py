"""TLS is verified by default: a VTN with a certificate the system does not trust is refused;
with ``ca_file`` (VenSettings.ca_file) the same VTN is accepted."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from phoenyra_ems.vpp.service import VenService, VenSettings
from tests.vpp.helpers import VEN_SECRET, RecordingTarget, make_vtn, wait_for


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-vtn")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "vtn.pem", tmp_path / "vtn.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def _run(settings: VenSettings) -> VenService:
    service = VenService(settings, RecordingTarget())
    task = asyncio.create_task(service.run())
    try:
        await wait_for(lambda: service.connected or service.failures >= 1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return service


async def test_untrusted_certificate_refused_then_trusted_with_ca_file(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    vtn = make_vtn()
    url = await vtn.start(ssl_context=context)
    try:
        base = VenSettings(
            vtn_url=url, client_id="ven1", client_secret=VEN_SECRET, resources={"wien": ("wien",)}
        )
        refused = await _run(base)
        assert not refused.connected and "certificate" in (refused.last_error or "").lower()
        assert vtn.requests == []  # not even the token request got through
        trusted = await _run(replace(base, ca_file=str(cert)))
        assert trusted.connected and trusted.failures == 0
    finally:
        await vtn.stop()
