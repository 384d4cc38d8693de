"""The typed client's community methods against the real community routes over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from phoenyra_ems.api.community import add_routes
from phoenyra_ems.api.errors import ApiError
from phoenyra_ems.api.keys import PRINCIPAL
from phoenyra_ems.auth.models import Principal, Role
from phoenyra_ems.client import (
    CommunityState,
    PhoenyraClient,
    PhoenyraInvalidRequestError,
    PhoenyraInvalidResponseError,
    PhoenyraNotFoundError,
)
from phoenyra_ems.community.ledger import Ledger
from phoenyra_ems.community.service import FIELDS
from phoenyra_ems.config.community_model import CommunityConfig, CommunityMember, LedgerConfig
from phoenyra_ems.core.community.settlement import MemberSettlement

USERS = {
    "admin": Principal("admin", Role.ADMIN, None),
    "wien": Principal("wien", Role.VIEWER, frozenset({"wien"})),
}


@web.middleware
async def token_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    request[PRINCIPAL] = USERS[request.headers["Authorization"].removeprefix("Bearer ")]
    try:
        return await handler(request)
    except ApiError as err:
        return err.response()


def _community(tmp_path: Path) -> CommunityConfig:
    config = CommunityConfig(
        "eeg",
        {
            "wien": CommunityMember("wien", site="wien"),
            "bauernhof": CommunityMember("bauernhof", csv="b.csv"),
        },
        ledger=LedgerConfig(str(tmp_path / "l.db"), str(tmp_path / "keys")),
    )
    members = {"wien": [2, 0, 1.5, 0, 0, 0.15, 0], "bauernhof": [0, 5, 0, 1.5, 3.5, 0, 0.15]}
    with Ledger(config.ledger.path, "eeg", config.ledger.key_dir) as ledger:
        ledger.append(
            (
                "interval",
                f"2024-06-01T10:{m:02d}:00Z",
                "2024-06",
                None,
                {
                    "interval": f"2024-06-01T10:{m:02d}:00Z",
                    "price_eur_kwh": 0.1,
                    "fields": list(FIELDS),
                    "members": members,
                },
            )
            for m in (0, 15)
        )
        ledger.append(
            (
                "settlement",
                "2024-06",
                "2024-06",
                mid,
                MemberSettlement(
                    "eeg",
                    mid,
                    "2024-06",
                    2,
                    2 * v[0],
                    2 * v[1],
                    2 * v[2],
                    2 * (v[0] - v[2]),
                    2 * v[3],
                    2 * v[4],
                    2 * v[5],
                    2 * v[6],
                ).as_dict(),
            )
            for mid, v in members.items()
        )
        ledger.checkpoint()
    return config


@pytest.fixture
async def serve(tmp_path: Path) -> Any:
    config: dict[str, CommunityConfig | None] = {"c": _community(tmp_path)}
    app = web.Application(middlewares=[token_auth])
    add_routes(app, lambda request: config["c"])
    async with TestServer(app) as server:
        yield server, config


async def test_member_reads_its_figures_typed(serve: Any) -> None:
    server, config = serve
    async with PhoenyraClient(server.host, server.port, token="wien", retries=0) as client:
        state = await client.community()
        assert isinstance(state, CommunityState) and state.key == "dynamic"
        member = state.member_for_site("wien")
        assert member is not None and member.id == "wien" and member.visible
        assert state.member_for_site("linz") is None
        assert state.latest_interval is not None
        assert state.latest_interval.interval == datetime(2024, 6, 1, 10, 15, tzinfo=UTC)
        assert set(state.latest_interval.members) == {"wien"}  # only its own
        assert state.ledger_records == 5 and state.ledger_head is not None

        allocations = await client.community_allocations(
            datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC)
        )
        assert len(allocations.intervals) == 2
        totals = allocations.totals("wien")
        assert totals is not None and totals.received_kwh == 3.0 and totals.paid_eur == pytest.approx(0.3)
        assert allocations.totals("bauernhof") is None  # not visible to this user

        settlement = await client.community_settlement("2024-06")
        assert settlement.settled and [m.member for m in settlement.members] == ["wien"]
        assert settlement.members[0].net_eur == pytest.approx(-0.3)
        assert not (await client.community_settlement("2024-07")).settled

        ledger = await client.community_ledger()
        assert ledger.records == 5 and ledger.head == state.ledger_head and ledger.checkpoint is not None

        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.community_settlement("June")
        assert "month" in err.value.fields
        with pytest.raises(ValueError, match="timezone-aware"):
            await client.community_allocations(datetime(2024, 6, 1))
        config["c"] = None
        with pytest.raises(PhoenyraNotFoundError):
            await client.community()


async def test_admin_sees_every_member(serve: Any) -> None:
    server, _ = serve
    async with PhoenyraClient(server.host, server.port, token="admin", retries=0) as client:
        settlement = await client.community_settlement("2024-06")
        assert {m.member for m in settlement.members} == {"wien", "bauernhof"}
        allocations = await client.community_allocations(
            datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC)
        )
        farm = allocations.totals("bauernhof")
        assert farm is not None and farm.provided_kwh == 3.0 and farm.surplus_kwh == 7.0


def test_a_wrong_shape_names_the_field() -> None:
    body = {
        "id": "eeg",
        "name": "EEG",
        "key": "dynamic",
        "timezone": "Europe/Vienna",
        "price": {"mode": "fixed", "fixed_eur_kwh": 0.1, "dayahead_factor": 1, "markup_eur_kwh": 0},
        "members": [],
        "ledger": {"records": 0, "head": None},
        "latest_interval": {
            "interval": "2024-06-01T10:00:00Z",
            "price_eur_kwh": 0.1,
            "members": {"wien": dict.fromkeys(FIELDS, 0.0) | {"received_kwh": "3"}},
        },
    }
    with pytest.raises(PhoenyraInvalidResponseError, match=r"latest_interval\.members\.wien\.received_kwh"):
        CommunityState.from_dict(body)


async def test_today_and_month_to_date_sum_the_members_recorded_intervals(tmp_path: Path) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    config = _community(tmp_path)  # June 2024: neither today nor this month
    midnight = datetime.now(ZoneInfo(config.timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight.replace(day=1)
    starts = {first - timedelta(minutes=15), first, midnight, midnight + timedelta(minutes=15)}
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    members = {"wien": [2, 0, 1.5, 0, 0, 0.15, 0], "bauernhof": [0, 5, 0, 1.5, 3.5, 0, 0.15]}
    with Ledger(config.ledger.path, "eeg", config.ledger.key_dir) as ledger:
        ledger.append(
            ("interval", period, period[:7], None,
             {"interval": period, "price_eur_kwh": 0.1, "fields": list(FIELDS), "members": members})
            for period in sorted(t.astimezone(UTC).strftime(fmt) for t in starts)
        )  # fmt: skip
    app = web.Application(middlewares=[token_auth])
    add_routes(app, lambda request: config)
    async with TestServer(app) as server:
        async with PhoenyraClient(server.host, server.port, token="wien", retries=0) as client:
            state = await client.community()
        async with PhoenyraClient(server.host, server.port, token="admin", retries=0) as client:
            admin = await client.community()
    this_month = len(starts) - 1  # the quarter-hour before the 1st belongs to last month
    assert state.date == midnight.date().isoformat() and state.month == first.strftime("%Y-%m")
    assert set(state.today) == {"wien"} and set(state.month_to_date) == {"wien"}  # only its own
    assert state.today["wien"].received_kwh == pytest.approx(3.0)
    assert state.month_to_date["wien"].received_kwh == pytest.approx(1.5 * this_month)
    assert state.month_to_date["wien"].paid_eur == pytest.approx(0.15 * this_month)
    assert set(admin.today) == {"wien", "bauernhof"}
    assert admin.today["bauernhof"].provided_kwh == pytest.approx(3.0)
    assert admin.month_to_date["bauernhof"].earned_eur == pytest.approx(0.15 * this_month)
