"""Device faults against a running daemon: what the operator sees in the API, what the battery does.

Bounds (tests/faults/harness.py): safe within 2 cycles + Modbus timeout + 0.5 s, running again
within 5 s of the device being healthy; cycle 0.5 s, timeout 0.5 s, no retries. One daemon with
three sites (``rig``) serves every case here; it is healed before each.
"""

from __future__ import annotations

import pytest

from tests.faults import device_cases as cases
from tests.faults.cases import DeviceRig


def test_silent_device_goes_safe_keeps_history_and_runs_again_after_sigcont(rig: DeviceRig) -> None:
    cases.device_silent(rig)


def test_killed_device_goes_safe_and_runs_again_when_restarted_on_its_port(rig: DeviceRig) -> None:
    cases.device_gone_and_back(rig)


def test_device_gone_for_a_power_cycle_is_retried_often_enough_to_run_within_5s_of_its_return(
    rig: DeviceRig,
) -> None:
    cases.device_gone_long(rig)


def test_modbus_exceptions_on_read_go_safe_with_comm_lost_and_recover(rig: DeviceRig) -> None:
    cases.read_exceptions(rig)


def test_refused_setpoint_writes_go_safe_with_write_failed_without_flapping(rig: DeviceRig) -> None:
    cases.refused_writes(rig)


def test_soc_not_available_goes_safe_and_stops_the_battery(rig: DeviceRig) -> None:
    cases.soc_sentinel(rig)


@pytest.mark.parametrize("reading", list(cases.IMPLAUSIBLE_CASES))
def test_implausible_reading_goes_safe_and_never_turns_a_manual_setpoint_into_full_power(
    rig: DeviceRig, reading: str
) -> None:
    cases.IMPLAUSIBLE_CASES[reading](rig)


def test_name_only_reload_keeps_manual_setpoint_and_limits_or_says_it_reset_them(rig: DeviceRig) -> None:
    cases.reload_keeps_controls(rig)


def test_reload_while_the_device_hangs_never_loses_the_site(rig: DeviceRig) -> None:
    cases.reload_while_hanging(rig)
