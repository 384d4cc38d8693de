"""``GET /api/v1/vpp``: the VPP overview (docs/vpp.md "Control").

Programs and events as the VEN knows them (``Fleet.vpp.programs`` / ``.events``, JSON-ready
dictionaries the VEN fills; empty without one), then per site the user may read: the committed
schedule (``active`` or ``upcoming``), the VPP state of the last cycle (committed power, deviation,
offered flexibility), and the deviation figures of the event; and the aggregated resource: its
schedule, the sites its present split uses, and the fleet's offer.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from phoenyra_ems.api import serialize
from phoenyra_ems.api.keys import PRINCIPAL
from phoenyra_ems.api.openapi import FLEXIBILITY, NULLABLE_NUM, NUM, STR, TIME, VPP_STATE, _json, _obj
from phoenyra_ems.core.vpp_control import Deviation
from phoenyra_ems.fleet import Fleet

PATH = "/api/v1/vpp"
FLEET_OFFER_S = 3600.0


def deviation_json(deviation: Deviation) -> dict[str, Any] | None:
    if not deviation.samples:
        return None
    mean = deviation.mean_abs_kw
    return {
        "event_id": deviation.event_id,
        "samples": deviation.samples,
        "last_kw": None if deviation.last_kw is None else round(deviation.last_kw, 3) + 0.0,
        "mean_abs_kw": None if mean is None else round(mean, 3) + 0.0,
        "max_abs_kw": round(deviation.max_abs_kw, 3) + 0.0,
    }


def vpp_body(fleet: Fleet, readable: set[str] | None) -> dict[str, Any]:
    """The overview; ``readable``: the site ids the caller may see (None: all)."""
    now = fleet.clock.now()
    target = fleet.vpp
    sites = []
    for site_id in target.site_ids():
        if readable is not None and site_id not in readable:
            continue
        controller = fleet.controller(site_id)
        slot = fleet.slots[site_id]
        sites.append(
            {
                "site_id": site_id,
                "schedule": serialize.vpp_schedule_json(controller.vpp.schedule if controller else None, now),
                "state": serialize.vpp_state_json(slot.state.vpp),
                "deviation": deviation_json(controller.vpp.deviation) if controller else None,
                "ended": list(controller.vpp.ended) if controller else [],
                "announced_at": serialize.iso(controller.vpp.announced_at) if controller else None,
            }
        )
    aggregated = None
    if readable is None:  # the aggregated resource speaks for every site: admins only
        aggregated = {
            "resource": target.resource,
            "schedule": serialize.vpp_schedule_json(target.aggregated, now),
            "members": sorted(target.members),
            "rebalances": target.rebalances,
            "offered": serialize.flexibility_json(target.flexibility(target.resource, FLEET_OFFER_S)),
        }
    return {
        "programs": list(target.programs),
        "events": list(target.events),
        "sites": sites,
        "aggregated": aggregated,
    }


async def get_vpp(request: web.Request) -> web.Response:
    from phoenyra_ems.api.app import FLEET

    fleet = request.app[FLEET]
    who = request[PRINCIPAL]
    readable = None if who.is_admin else {i for i in fleet.site_ids() if who.can_read(i)}
    body = vpp_body(fleet, readable)
    return web.json_response(body, dumps=lambda d: json.dumps(d, allow_nan=False))


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, get_vpp)


SCHEDULE = {
    **_obj(
        {
            "event_id": STR,
            "program_id": STR,
            "resource": STR,
            "state": {"type": "string", "enum": ["active", "upcoming"]},
            "start": TIME,
            "end": TIME,
            "intervals": {
                "type": "array",
                "items": _obj(
                    {
                        "start": TIME,
                        "end": TIME,
                        "setpoint_kw": NULLABLE_NUM,
                        "import_limit_kw": NULLABLE_NUM,
                        "export_limit_kw": NULLABLE_NUM,
                        "price_eur_kwh": NULLABLE_NUM,
                    },
                    ["start", "end"],
                ),
            },
        },
        ["event_id", "program_id", "state", "intervals"],
    ),
    "nullable": True,
}
DEVIATION = {
    **_obj(
        {
            "event_id": STR,
            "samples": NUM,
            "last_kw": NULLABLE_NUM,
            "mean_abs_kw": NULLABLE_NUM,
            "max_abs_kw": NUM,
        },
        ["event_id", "samples", "max_abs_kw"],
    ),
    "nullable": True,
}
OVERVIEW = _obj(
    {
        "programs": {"type": "array", "items": {"type": "object"}},
        "events": {"type": "array", "items": {"type": "object"}},
        "sites": {
            "type": "array",
            "items": _obj(
                {
                    "site_id": STR,
                    "schedule": SCHEDULE,
                    "state": VPP_STATE,
                    "deviation": DEVIATION,
                    "ended": {"type": "array", "items": STR},
                    "announced_at": TIME,
                },
                ["site_id", "schedule", "state", "deviation"],
            ),
        },
        "aggregated": {
            **_obj(
                {
                    "resource": STR,
                    "schedule": SCHEDULE,
                    "members": {"type": "array", "items": STR},
                    "rebalances": NUM,
                    "offered": FLEXIBILITY,
                },
                ["resource", "schedule", "members"],
            ),
            "nullable": True,
        },
    },
    ["programs", "events", "sites", "aggregated"],
)


_PROBLEM = _obj({"type": STR, "title": STR, "status": {"type": "integer"}}, ["title", "status"])
_NOTIFICATION = {
    **_obj(
        {
            "objectType": {
                "type": "string",
                "enum": ["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"],
            },
            "operation": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
            "object": {"type": "object"},
        },
        ["objectType", "operation", "object"],
    ),
    "description": "An OpenADR 3.0.1 `notification`; the daemon validates it against the whole "
    "specification (phoenyra_ems/vpp/spec/3.0.1_openadr3.yaml), not only this outline.",
}
WEBHOOK = {
    "post": {
        "summary": "OpenADR 3 push: the VTN notifies the daemon's VEN of its subscriptions",
        "description": "Called by the VTN, not by API users: authenticated by the bearer token the VEN "
        "handed over in its subscription (an API token is refused); exempt from the API-key check. "
        "An event change is applied at once; anything else makes the VEN poll now (docs/vpp.md).",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _NOTIFICATION}},
        },
        "responses": {
            "200": _json(_obj({}), "applied (an empty object)"),
            "400": _json(_PROBLEM, "not JSON or violates OpenADR 3.0.1: not applied"),
            "401": _json(_PROBLEM, "missing or unknown subscription token"),
            "413": _json(_PROBLEM, "body over 256 KiB"),
        },
    }
}


def vpp_paths(errors: dict[str, Any]) -> dict[str, Any]:
    """The routes' OpenAPI path items (merged by ``openapi_document``): the overview, and the VEN's
    webhook (``phoenyra_ems.vpp.webhook``)."""
    from phoenyra_ems.vpp.webhook import WEBHOOK_PATH

    return {PATH: {"get": {"responses": {"200": _json(OVERVIEW), **errors}}}, WEBHOOK_PATH: WEBHOOK}
