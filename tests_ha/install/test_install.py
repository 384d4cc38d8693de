"""Install the integration the way Home Assistant does, then config flow, setup, an entity update.

Needs ``make dist`` (``make test-ha-install`` runs it). For each way a homeowner installs —

* ``pip``: HACS (or a manual copy) puts only ``custom_components/phoenyra/`` into the config
  directory; Home Assistant's own requirement processing pip-installs ``phoenyra-client==<v>``
  (here from ``dist/``: ``PIP_NO_INDEX=1 PIP_FIND_LINKS=dist``, the package index stands in);
* ``zip``: the release asset ``dist/phoenyra.zip`` unpacked there (the client bundled, no requirement)

— a fresh pytest process of this Home Assistant venv, whose only copy of our code is that directory,
runs ``installed_ha.py`` against a real daemon. The client is uninstalled before each run; the
``pip`` run (last) leaves it installed from ``dist/`` for the other Home Assistant tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests_ha.conftest import REPO, DaemonProcess

DIST = REPO / "dist"
INTEGRATION = REPO / "custom_components" / "phoenyra"
sys.path.insert(0, str(REPO / "scripts"))
import build_client  # noqa: E402

VERSION = build_client.client_version()
WHEEL = DIST / f"phoenyra_client-{VERSION}-py3-none-any.whl"
SDIST = DIST / f"phoenyra_client-{VERSION}.tar.gz"
ZIP = DIST / "phoenyra.zip"


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


@pytest.fixture(scope="module", autouse=True)
def _built() -> None:
    for path in (WHEEL, SDIST, ZIP):
        if not path.exists():
            pytest.fail(f"{path.name} missing: run `make dist`")


def test_manifest_requires_exactly_the_client_distribution() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    assert manifest["requirements"] == [f"{build_client.DISTRIBUTION}=={VERSION}"]
    assert manifest["codeowners"], "HACS wants codeowners"
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert (INTEGRATION / "brand" / "icon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_built_client_is_the_repository_code() -> None:
    """The wheel, the sdist and the zip carry exactly the generated copy of phoenyra_ems/client/."""
    expected = build_client.generate_package()
    with zipfile.ZipFile(WHEEL) as whl:
        in_wheel = {
            n.split("/", 1)[1]: whl.read(n).decode()
            for n in whl.namelist()
            if n.startswith("phoenyra_client/")
        }
        metadata = next(whl.read(n).decode() for n in whl.namelist() if n.endswith("/METADATA"))
    assert in_wheel == expected
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires == ["Requires-Dist: aiohttp>=3.9"]
    with zipfile.ZipFile(ZIP) as zf:
        in_zip = {
            n.split("/", 1)[1]: zf.read(n).decode() for n in zf.namelist() if n.startswith("phoenyra_client/")
        }
        names = set(zf.namelist())
    assert in_zip == expected
    assert {
        p.relative_to(INTEGRATION).as_posix()
        for p in INTEGRATION.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    } <= names


def _run_installed(tmp: Path, daemon: DaemonProcess, mode: str) -> None:
    shutil.copy2(Path(__file__).with_name("installed_ha.py"), tmp / "test_installed.py")
    (tmp / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\ntimeout = 120\n")
    _pip("uninstall", "-y", build_client.DISTRIBUTION)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHONPATH"))}
    env |= {
        "PHOENYRA_MODE": mode,
        "PHOENYRA_PORT": str(daemon.port),
        "PHOENYRA_TOKEN": daemon.admin_token,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(DIST),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            "pytest.ini",
            "--rootdir",
            str(tmp),
            "test_installed.py",
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


def test_release_zip_installs_without_the_index(tmp_path: Path, shared_daemon: DaemonProcess) -> None:
    target = tmp_path / "custom_components" / "phoenyra"
    target.mkdir(parents=True)
    with zipfile.ZipFile(ZIP) as zf:
        zf.extractall(target)
    try:
        _run_installed(tmp_path, shared_daemon, "zip")
    finally:
        _pip("install", "--no-index", "--find-links", str(DIST), f"{build_client.DISTRIBUTION}=={VERSION}")


def test_hacs_copy_with_pip_requirement(tmp_path: Path, shared_daemon: DaemonProcess) -> None:
    shutil.copytree(
        INTEGRATION, tmp_path / "custom_components" / "phoenyra", ignore=shutil.ignore_patterns("__pycache__")
    )
    try:
        _run_installed(tmp_path, shared_daemon, "pip")
    finally:
        _pip("install", "--no-index", "--find-links", str(DIST), f"{build_client.DISTRIBUTION}=={VERSION}")
