"""Fixtures of the fault suite: one admin token per session, the shared device rig, no leaked processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.cases import DeviceRig
from tests.faults.harness import Auth, kill_all


@pytest.fixture(scope="session")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Auth:
    return Auth.create(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="session", autouse=True)
def _kill_leftover_processes() -> Iterator[None]:
    yield
    kill_all()


@pytest.fixture(scope="module")
def device_rig(tmp_path_factory: pytest.TempPathFactory, auth: Auth) -> Iterator[DeviceRig]:
    rig = DeviceRig(tmp_path_factory.mktemp("device-rig"), auth)
    try:
        rig.start()
        yield rig
    finally:
        rig.close()


@pytest.fixture
def rig(device_rig: DeviceRig) -> DeviceRig:
    """The shared rig, healed: every device answering, every site running in auto mode."""
    device_rig.heal()
    return device_rig
