"""REST routes of the energy community (docs/community.md): state, allocations, settlements, ledger.

Members see only their own figures: a user sees member X if X is one of our sites they may read,
or they hold a grant named after X (``phoenyra-ems user grant alice bauernhof``); admins see all.
The ledger's public key is served without a token, so anyone can check a proof.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web

from phoenyra_ems.api.errors import ApiError
from phoenyra_ems.api.keys import PRINCIPAL
from phoenyra_ems.auth.models import Principal
from phoenyra_ems.community.store import LedgerMissing, LedgerStore, Select, open_store
from phoenyra_ems.community.store import errors as store_errors
from phoenyra_ems.config.community_model import CommunityConfig

PREFIX = "/api/v1/community"
PUBLIC_KEY_PATH = f"{PREFIX}/ledger/public-key"
MAX_RANGE = timedelta(days=31)
Config = Callable[[web.Request], CommunityConfig | None]
T = TypeVar("T")


def _dumps(data: Any) -> str:
    return json.dumps(data, allow_nan=False)


def _community(request: web.Request, config: Config) -> CommunityConfig:
    community = config(request)
    if community is None:
        raise ApiError(404, "not_found", "no community is configured (community: in the configuration)")
    return community


def visible(who: Principal, community: CommunityConfig) -> set[str]:
    """The members whose figures ``who`` may see."""
    return {
        mid
        for mid, m in community.members.items()
        if who.is_admin or who.can_read(mid) or (m.site is not None and who.can_read(m.site))
    }


def _read(community: CommunityConfig, read: Callable[[LedgerStore], T]) -> T | None:
    """``read`` on the community's ledger opened read-only (SQLite or PostgreSQL); None: no ledger yet."""
    try:
        store = open_store(community.ledger, community.community_id, read_only=True)
    except LedgerMissing:
        return None
    try:
        return read(store)
    finally:
        store.close()


async def _rows(community: CommunityConfig, read: Callable[[LedgerStore], list[Any]]) -> list[Any]:
    """``read`` in a worker thread; [] while there is no ledger."""
    try:
        return await asyncio.to_thread(_read, community, read) or []
    except store_errors() as err:
        raise ApiError(503, "unavailable", f"the community ledger cannot be read: {err}") from None


def _head(store: LedgerStore) -> list[Any]:
    head = store.head()
    return [] if head is None else [head]


def _interval_json(body: str, members: set[str]) -> dict[str, Any]:
    data = json.loads(body)["data"]
    fields = data["fields"]
    return {
        "interval": data["interval"],
        "price_eur_kwh": data["price_eur_kwh"],
        "members": {
            mid: dict(zip(fields, values, strict=True))
            for mid, values in data["members"].items()
            if mid in members
        },
    }


def _range(request: web.Request, community: CommunityConfig) -> tuple[str, str]:
    tz = ZoneInfo(community.timezone)
    today = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    errors: dict[str, str] = {}
    bounds = []
    for name, default in (("from", today), ("to", today + timedelta(days=1))):
        text = request.query.get(name)
        try:
            value = datetime.fromisoformat(text) if text else default
        except ValueError:
            errors[name] = "expected an ISO 8601 date or instant"
            continue
        bounds.append(value if value.tzinfo else value.replace(tzinfo=tz))
    if errors:
        raise ApiError(422, "invalid_request", "invalid time range", errors)
    start, end = bounds
    if not start < end or end - start > MAX_RANGE:
        raise ApiError(422, "invalid_request", "invalid time range", {"to": "after from, at most 31 days"})
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return start.astimezone(UTC).strftime(fmt), end.astimezone(UTC).strftime(fmt)


def _sums(bodies: list[tuple[str, str]], since: str) -> tuple[dict[str, dict[str, float]], ...]:
    """Per member, its figures summed over ``bodies`` (period, body): (from ``since`` on, all)."""
    today: dict[str, dict[str, float]] = {}
    month: dict[str, dict[str, float]] = {}
    for period, body in bodies:
        data = json.loads(body)["data"]
        fields = data["fields"]
        for mid, values in data["members"].items():
            for target in (month, today) if period >= since else (month,):
                sums = target.setdefault(mid, dict.fromkeys(fields, 0.0))
                for name, value in zip(fields, values, strict=True):
                    sums[name] = sums.get(name, 0.0) + float(value)
    return today, month


def _rounded(sums: dict[str, dict[str, float]], members: set[str]) -> dict[str, dict[str, float]]:
    return {
        mid: {name: round(value, 6 if name.endswith("_eur") else 4) for name, value in figures.items()}
        for mid, figures in sorted(sums.items())
        if mid in members
    }


def add_routes(app: web.Application, config: Config) -> None:
    """The community routes on ``app``; ``config`` gives the current community (it changes on reload)."""

    cache: dict[str, Any] = {}  # the latest totals, by (ledger, head, local day)

    async def totals(community: CommunityConfig, head: int) -> dict[str, Any]:
        """Today's and this month's figures per member so far (the community's local day and month)."""
        tz = ZoneInfo(community.timezone)
        today = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        first = today.replace(day=1)
        key = (community.ledger.where, community.community_id, head, today)
        if cache.get("key") != key:
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            since, start = (t.astimezone(UTC).strftime(fmt) for t in (today, first))
            rows = await _rows(
                community,
                lambda store: [
                    (r[3], r[6]) for r in store.select(Select(kind="interval", since=start, by_period=True))
                ],
            )
            day, month = await asyncio.to_thread(_sums, rows, since)
            cache.update(
                key=key, day=day, month=month, date=today.date().isoformat(), ym=first.strftime("%Y-%m")
            )
        return cache

    async def state(request: web.Request) -> web.Response:
        community = _community(request, config)
        who: Principal = request[PRINCIPAL]
        seen = visible(who, community)
        head = await _rows(community, _head)
        last = await _rows(community, lambda store: [(r[6],) for r in [store.last("interval")] if r])
        sums = await totals(community, head[0][0] if head else -1)
        return web.json_response(
            {
                "id": community.community_id,
                "name": community.name,
                "key": community.key,
                "timezone": community.timezone,
                "price": {
                    "mode": community.price.mode,
                    "fixed_eur_kwh": community.price.fixed_eur_kwh,
                    "dayahead_factor": community.price.dayahead_factor,
                    "markup_eur_kwh": community.price.markup_eur_kwh,
                },
                "members": [
                    {
                        "id": mid,
                        "name": m.name,
                        "kind": m.kind,
                        "site": m.site,
                        "visible": mid in seen,
                        "share_pct": m.share_pct if mid in seen else None,
                        "participation_pct": m.participation_pct if mid in seen else None,
                    }
                    for mid, m in community.members.items()
                ],
                "ledger": {"records": head[0][0] + 1 if head else 0, "head": head[0][1] if head else None},
                "latest_interval": _interval_json(last[0][0], seen) if last else None,
                "today": {"date": sums["date"], "members": _rounded(sums["day"], seen)},
                "month": {"month": sums["ym"], "members": _rounded(sums["month"], seen)},
            },
            dumps=_dumps,
        )

    async def allocations(request: web.Request) -> web.Response:
        community = _community(request, config)
        start, end = _range(request, community)
        seen = visible(request[PRINCIPAL], community)
        query = Select(kind="interval", since=start, until=end, by_period=True)
        rows = await _rows(community, lambda store: [(r[6],) for r in store.select(query)])
        return web.json_response(
            {"from": start, "to": end, "intervals": [_interval_json(body, seen) for (body,) in rows]},
            dumps=_dumps,
        )

    async def settlement(request: web.Request) -> web.Response:
        community = _community(request, config)
        month = request.match_info["month"]
        try:
            datetime.strptime(month, "%Y-%m")
        except ValueError:
            raise ApiError(422, "invalid_request", "invalid month", {"month": "expected YYYY-MM"}) from None
        seen = visible(request[PRINCIPAL], community)
        rows = await _rows(
            community,
            lambda store: [(r[5], r[6]) for r in store.select(Select(kind="settlement", month=month))],
        )
        members = [json.loads(body)["data"] for member, body in rows if member in seen]
        return web.json_response({"month": month, "settled": bool(rows), "members": members}, dumps=_dumps)

    async def ledger_head(request: web.Request) -> web.Response:
        community = _community(request, config)
        head = await _rows(community, _head)
        cp = await _rows(community, lambda store: [c[1:] for c in [store.last_checkpoint()] if c])
        return web.json_response(
            {
                "records": head[0][0] + 1 if head else 0,
                "head": head[0][1] if head else None,
                "checkpoint": {"body": cp[0][0], "signature": cp[0][1]} if cp else None,
            },
            dumps=_dumps,
        )

    async def checkpoints(request: web.Request) -> web.Response:
        community = _community(request, config)
        rows = await _rows(community, lambda store: [c[1:] for c in store.checkpoints()])
        return web.json_response(
            {"checkpoints": [{"body": body, "signature": sig} for body, sig in rows]}, dumps=_dumps
        )

    async def public_key(request: web.Request) -> web.Response:
        community = _community(request, config)
        rows = await _rows(community, lambda store: [(r[6],) for r in store.select(Select(kind="key"))])
        if not rows:
            raise ApiError(404, "not_found", "the ledger has no key yet")
        history = [json.loads(body)["data"] for (body,) in rows]
        from phoenyra_ems.community.keys import public_from_hex, public_pem

        return web.json_response(
            {
                "key_id": history[-1]["key_id"],
                "public_key_hex": history[-1]["public_key"],
                "public_key_pem": public_pem(public_from_hex(history[-1]["public_key"])),
                "history": history,
            },
            dumps=_dumps,
        )

    app.router.add_get(PREFIX, state)
    app.router.add_get(f"{PREFIX}/allocations", allocations)
    app.router.add_get(f"{PREFIX}/settlements/{{month}}", settlement)
    app.router.add_get(f"{PREFIX}/ledger", ledger_head)
    app.router.add_get(f"{PREFIX}/ledger/checkpoints", checkpoints)
    app.router.add_get(PUBLIC_KEY_PATH, public_key)
