"""The community routes over real HTTP: members see only their own figures, admins all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from phoenyra_ems.api.community import add_routes
from phoenyra_ems.api.errors import ApiError
from phoenyra_ems.api.keys import PRINCIPAL
from phoenyra_ems.auth.models import Principal, Role
from phoenyra_ems.community import keys
from phoenyra_ems.community.proofs import check_proof, prove
from phoenyra_ems.community.service import ledger_for
from phoenyra_ems.config.community_model import CommunityConfig, CommunityMember, LedgerConfig
from tests.community.places import BACKENDS
from tests.postgres_server import postgres_server  # noqa: F401 (fixture)

USERS = {
    "admin": Principal("admin", Role.ADMIN, None),
    "wien": Principal("wien", Role.VIEWER, frozenset({"wien"})),  # the site's user: member "wien"
    "farmer": Principal("farmer", Role.VIEWER, frozenset({"bauernhof"})),  # a grant named after the member
}


@web.middleware
async def fake_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    request[PRINCIPAL] = USERS[request.headers["X-User"]]
    try:
        return await handler(request)
    except ApiError as err:  # as the daemon's middleware answers it
        return err.response()


@pytest.fixture(params=BACKENDS)
def community(request: pytest.FixtureRequest, tmp_path: Path) -> CommunityConfig:
    """The community's ledger in a SQLite file, or in a database of the real PostgreSQL server."""
    if request.param == "sqlite":
        ledger_config = LedgerConfig(str(tmp_path / "l.db"), str(tmp_path / "keys"))
    else:
        server = request.getfixturevalue("postgres_server")
        dsn = server.dsn(server.create_database())
        ledger_config = LedgerConfig(key_dir=str(tmp_path / "keys"), backend="postgresql", dsn=dsn)
    config = CommunityConfig(
        "eeg",
        {
            "wien": CommunityMember("wien", site="wien"),
            "bauernhof": CommunityMember("bauernhof", csv="b.csv"),
        },
        ledger=ledger_config,
    )
    with ledger_for(config) as ledger:
        fields = [
            "consumption_kwh",
            "generation_kwh",
            "received_kwh",
            "provided_kwh",
            "surplus_kwh",
            "paid_eur",
            "earned_eur",
        ]
        ledger.append(
            (
                "interval",
                f"2024-06-0{d}T10:00:00Z",
                "2024-06",
                None,
                {
                    "interval": f"2024-06-0{d}T10:00:00Z",
                    "price_eur_kwh": 0.1,
                    "fields": fields,
                    "members": {"wien": [2, 0, 2, 0, 0, 0.2, 0], "bauernhof": [0, 5, 0, 2, 3, 0, 0.2]},
                },
            )
            for d in (1, 2)
        )
        ledger.append(
            ("settlement", "2024-06", "2024-06", m, {"member": m, "month": "2024-06", "received_kwh": r})
            for m, r in (("wien", 4.0), ("bauernhof", 0.0))
        )
        ledger.checkpoint()
    return config


async def test_members_see_only_their_own(community: CommunityConfig) -> None:
    app = web.Application(middlewares=[fake_auth])
    add_routes(app, lambda request: community)
    async with TestClient(TestServer(app)) as client:

        async def get(path: str, user: str) -> tuple[int, Any]:
            response = await client.get(path, headers={"X-User": user})
            return response.status, await response.json()

        for user, expected in (
            ("admin", {"wien", "bauernhof"}),
            ("wien", {"wien"}),
            ("farmer", {"bauernhof"}),
        ):
            status, body = await get("/api/v1/community/settlements/2024-06", user)
            assert status == 200 and {m["member"] for m in body["members"]} == expected
            status, body = await get("/api/v1/community/allocations?from=2024-06-01&to=2024-06-03", user)
            assert status == 200 and len(body["intervals"]) == 2
            assert all(set(i["members"]) == expected for i in body["intervals"])
            status, body = await get("/api/v1/community", user)
            assert {m["id"] for m in body["members"] if m["visible"]} == expected
            assert set(body["latest_interval"]["members"]) == expected
        assert (await get("/api/v1/community/settlements/June", "admin"))[0] == 422
        assert (await get("/api/v1/community/allocations?from=2024-01-01&to=2024-06-01", "admin"))[0] == 422
        status, head = await get("/api/v1/community/ledger", "wien")
        assert status == 200 and head["records"] == 5 and head["checkpoint"] is not None
        status, body = await get("/api/v1/community/ledger/checkpoints", "wien")
        assert status == 200 and body["checkpoints"][-1] == head["checkpoint"]
        # a member checks its proof with the key the API serves
        status, key = await get("/api/v1/community/ledger/public-key", "farmer")
        with ledger_for(community, writable=False) as ledger:
            document = prove(ledger, "bauernhof", "2024-06")
        assert check_proof(document, [keys.public_from_hex(key["public_key_hex"])]).ok


async def test_no_community_is_404() -> None:
    app = web.Application(middlewares=[fake_auth])
    add_routes(app, lambda request: None)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/api/v1/community", headers={"X-User": "admin"})
        assert response.status == 404
