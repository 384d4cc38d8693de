"""Faults of the daemon's own world: signals, a full disk, the MQTT broker. Each case runs its own daemon.

A case this machine cannot stage (no tmpfs mount, no mosquitto) is skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import daemon_cases as cases
from tests.faults.cases import CannotRun, Case
from tests.faults.harness import Auth


def run(case: Case, workdir: Path, auth: Auth) -> None:
    try:
        case(workdir, auth)
    except CannotRun as reason:
        pytest.skip(str(reason))


def test_sigterm_while_the_device_hangs_exits_within_10s_and_flushes_history(
    tmp_path: Path, auth: Auth
) -> None:
    run(cases.sigterm_while_hanging, tmp_path, auth)


def test_sigkill_while_writing_leaves_an_intact_history_missing_at_most_5s(
    tmp_path: Path, auth: Auth
) -> None:
    run(cases.sigkill_while_writing, tmp_path, auth)


def test_disk_full_while_running_raises_an_alarm_and_control_goes_on(tmp_path: Path, auth: Auth) -> None:
    run(cases.disk_full_while_running, tmp_path, auth)


def test_disk_full_at_start_runs_the_site_and_stops_the_battery_on_exit(tmp_path: Path, auth: Auth) -> None:
    run(cases.disk_full_at_start, tmp_path, auth)


def test_broker_killed_and_restarted_never_stops_control_and_telemetry_resumes(
    tmp_path: Path, auth: Auth
) -> None:
    run(cases.broker_restart, tmp_path, auth)


def test_broker_gone_for_long_is_retried_often_enough_that_telemetry_resumes_within_5s(
    tmp_path: Path, auth: Auth
) -> None:
    run(cases.broker_long_outage, tmp_path, auth)
