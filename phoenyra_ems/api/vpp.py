"""``GET /api/v1/vpp``: the VPP overview (docs/vpp.md "Control").

Programs and events as the VEN knows them (``Fleet.vpp.programs`` / ``.events``, JSON-ready
dictionaries the VEN fills; empty without one), then per site the user may read: the committed
schedule (``active`` or ``upcoming``), the VPP state of the last cycle (committed power, deviation,
offered flexibility), and the deviation figures of the event; and the aggregated resource: its
schedule, the sites its present split uses, and the fleet's offer.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from phoenyra_ems.api import serialize
from phoenyra_ems.api.keys import PRINCIPAL
from phoenyra_ems.api.openapi import STR, _json, _obj, model_schema
from phoenyra_ems.client import vpp as wire
from phoenyra_ems.client.wire import dump
from phoenyra_ems.core.vpp import VppSchedule
from phoenyra_ems.core.vpp_control import Deviation
from phoenyra_ems.fleet import Fleet

PATH = "/api/v1/vpp"
FLEET_OFFER_S = 3600.0


def schedule_model(schedule: VppSchedule | None, now: datetime) -> wire.VppSchedule | None:
    """A committed schedule; ``state`` is ``active`` (an interval covers now) or ``upcoming``."""
    if schedule is None:
        return None
    first = schedule.intervals[0].start if schedule.intervals else None
    upcoming = first is not None and now < first
    state = wire.ScheduleState.UPCOMING if upcoming else wire.ScheduleState.ACTIVE
    return serialize.project(wire.VppSchedule, schedule, state=state, start=first)


def deviation_model(deviation: Deviation) -> wire.VppDeviation | None:
    return serialize.project(wire.VppDeviation, deviation) if deviation.samples else None


def vpp_model(fleet: Fleet, readable: set[str] | None) -> wire.VppOverview:
    """The overview; ``readable``: the site ids the caller may see (None: all)."""
    now = fleet.clock.now()
    target = fleet.vpp
    sites = []
    for site_id in target.site_ids():
        if readable is not None and site_id not in readable:
            continue
        controller = fleet.controller(site_id)
        vpp = controller.vpp if controller else None
        sites.append(
            wire.VppSite(
                site_id=site_id,
                schedule=schedule_model(vpp.schedule if vpp else None, now),
                state=serialize.vpp_state_model(fleet.slots[site_id].state.vpp),
                deviation=deviation_model(vpp.deviation) if vpp else None,
                ended=tuple(vpp.ended) if vpp else (),
                announced_at=vpp.announced_at if vpp else None,
            )
        )
    aggregated = None
    if readable is None:  # the aggregated resource speaks for every site: admins only
        offer = target.flexibility(target.resource, FLEET_OFFER_S)
        aggregated = wire.VppAggregated(
            resource=target.resource,
            schedule=schedule_model(target.aggregated, now),
            offered=None if offer is None else serialize.project(wire.VppFlexibility, offer),
            members=tuple(sorted(target.members)),
            rebalances=target.rebalances,
        )
    return wire.VppOverview(
        sites=tuple(sites),
        aggregated=aggregated,
        programs=tuple(target.programs),
        events=tuple(target.events),
    )


async def get_vpp(request: web.Request) -> web.Response:
    from phoenyra_ems.api.app import FLEET

    fleet = request.app[FLEET]
    who = request[PRINCIPAL]
    readable = None if who.is_admin else {i for i in fleet.site_ids() if who.can_read(i)}
    body = dump(vpp_model(fleet, readable))
    return web.json_response(body, dumps=lambda d: json.dumps(d, allow_nan=False))


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, get_vpp)


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

    overview = {"get": {"responses": {"200": _json(model_schema(wire.VppOverview)), **errors}}}
    return {PATH: overview, WEBHOOK_PATH: WEBHOOK}
