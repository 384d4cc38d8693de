"""Fixtures of the console tests: a fixed, hand-made store (snapshots) and the live daemon
(``running_daemon`` from tests/daemon_fixtures.py, registered in tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from textual.pilot import Pilot

from phoenyra_ems.client import (
    AggregatedState,
    Alarm,
    AlarmSeverity,
    Bess,
    Control,
    Device,
    Info,
    Limits,
    Location,
    Mode,
    Role,
    Site,
    SiteDetail,
    SiteState,
    SiteStatus,
)
from tui.app import PhoenyraConsole
from tui.core.backend import StaticBackend
from tui.core.store import ChartPoint, Connection, ConsoleStore, Phase

NOW = datetime(2024, 6, 1, 10, 30, tzinfo=UTC)
VIENNA = ZoneInfo("Europe/Vienna")
DAY = date(2024, 6, 1)
STRATEGIES = ("arbitrage", "peak_shaving", "self_consumption", "load_balancing")


class FrozenClock:
    """A monotonic clock that only moves when told (ages on screen stay fixed)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_site(site_id: str, name: str, port: int, capacity: float = 200, power: float = 100) -> Site:
    return Site(
        id=site_id,
        name=name,
        status=SiteStatus.RUNNING,
        location=Location(name, 48.2, 16.4, "Europe/Vienna"),
        bess=Bess(capacity, power, power, 10, 90),
        device=Device("generic", "127.0.0.1", port),
        strategies=STRATEGIES,
    )


def make_state(
    site_id: str, soc: float, p_bess: float, p_pv: float, p_load: float, **kw: object
) -> SiteState:
    state = SiteState(
        site_id=site_id,
        timestamp=NOW,
        soc=soc,
        soh=100.0,
        temp_c=24.5,
        p_bess=p_bess,
        p_pv=p_pv,
        p_load=p_load,
        p_grid=p_load - p_pv - p_bess,
        price=87.5,
        setpoint=p_bess,
        strategy="self_consumption",
        strategy_reason="PV surplus 19 kW: charge to avoid feed-in at 50 EUR/MWh",
        mode=Mode.AUTO,
        status=SiteStatus.RUNNING,
        alarms=(),
        last_reading=NOW - timedelta(seconds=0.2),
        last_write=NOW - timedelta(seconds=2),
    )
    return replace(state, **kw)  # type: ignore[arg-type]


def chart_points(site_id: str, start: datetime, count: int, step: timedelta) -> list[ChartPoint]:
    """Smooth, deterministic curves (a daily-ish shape, no randomness)."""
    points = []
    for i in range(count):
        x = i / max(1, count - 1)
        pv = max(0.0, 90 * (1 - (2 * x - 1) ** 2))
        load = 50 + 15 * ((i * 7) % 11) / 10
        bess = -min(40.0, max(0.0, pv - load)) + (20 if x > 0.8 else 0)
        points.append(ChartPoint(start + i * step, bess, pv, load, load - pv - bess, 30 + 40 * x))
    return points


def fixed_store(role: Role = Role.ADMIN, phase: Phase = Phase.CONNECTED) -> ConsoleStore:
    clock = FrozenClock()
    store = ConsoleStore("http://127.0.0.1:8080", monotonic=clock, wallclock=lambda: NOW.astimezone(VIENNA))
    store.set_info(Info("f00d", "0.1.0", "alice" if role is Role.ADMIN else "victor", role, 2))
    wien = make_site("wien", "Wien", 5020)
    linz = make_site("linz", "Linz", 5021, capacity=100, power=50)
    store.set_sites([wien, linz])
    limits_w = Limits(10, 90, 20, None, 80, 100, 100, -100, 80, 20)  # as the daemon publishes them
    limits_l = Limits(10, 90, None, None, None, 50, 50, -50, 50, 10)
    state_w = make_state("wien", 54.2, -20.0, 80.1, 61.3)
    alarm = Alarm("peak_cap", "import near the 80 kW cap", AlarmSeverity.WARNING, NOW)
    state_l = make_state(
        "linz", 71.0, 12.5, 0.0, 30.0, strategy="peak_shaving", strategy_reason="peak 42 kW", alarms=(alarm,)
    )
    control_w = Control(Mode.AUTO, None, None, None)
    store.set_detail(SiteDetail(wien, state_w, control_w, limits_w))
    store.set_detail(SiteDetail(linz, state_l, Control(Mode.AUTO, "peak_shaving", None, None), limits_l))
    store.merge_history("wien", chart_points("wien", NOW - timedelta(hours=1), 120, timedelta(seconds=30)))
    store.set_aggregated(
        AggregatedState(2, 300.0, 59.8, -7.5, 80.1, 91.3, 18.7, (state_w, state_l)),
    )
    store.log("Linz: alarm peak_cap raised (warning): import near the 80 kW cap")
    store.log("Wien: control auto, strategy auto-select by alice")
    if phase is not Phase.CONNECTED:
        store.set_connection(
            Connection(phase, "http://127.0.0.1:8080", "Cannot connect to host 127.0.0.1:8080", 3, 2.0)
        )
    else:
        store.set_connection(Connection(Phase.CONNECTED, "http://127.0.0.1:8080"))
    clock.now += 1.5  # every state is 1.5 s old
    return store


def fixed_backend(role: Role = Role.ADMIN, phase: Phase = Phase.CONNECTED) -> StaticBackend:
    store = fixed_store(role, phase)
    day = chart_points("wien", datetime(2024, 5, 31, 22, tzinfo=UTC), 288, timedelta(minutes=5))
    return StaticBackend(store, history={("wien", DAY): day})


@pytest.fixture
def static_backend() -> Iterator[StaticBackend]:
    yield fixed_backend()


# --- live console against the real daemon -------------------------------------------------------
async def wait_for(
    pilot: Pilot[int], predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``predicate()`` while the app runs (``pilot.pause``) until true, or fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


def live_app(url: str, token: str) -> PhoenyraConsole:
    """The real console (ConnectionManager + PhoenyraClient) with a fast reconnect for tests."""
    from tui.core.backoff import Backoff
    from tui.core.connection import ConnectionManager, make_client

    store = ConsoleStore(url)
    backend = ConnectionManager(store, lambda: make_client(url, token), backoff=Backoff(0.1, 2.0, 0.5))
    return PhoenyraConsole(backend)
