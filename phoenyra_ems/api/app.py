"""The aiohttp application: auth middleware, REST routes, WebSocket hub, OpenAPI document."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Protocol

from aiohttp import web

from phoenyra_ems import __version__
from phoenyra_ems import client as wire
from phoenyra_ems.api import serialize
from phoenyra_ems.api.errors import ApiError, error_response
from phoenyra_ems.api.json_limits import JsonTooDeep, loads_bounded
from phoenyra_ems.api.keys import PRINCIPAL, TOKEN
from phoenyra_ems.api.login_limit import LoginLimiter
from phoenyra_ems.api.openapi import openapi_document
from phoenyra_ems.api.plans import current_plan, plan_body
from phoenyra_ems.api.validation import parse_control, parse_history_query, parse_limits
from phoenyra_ems.api.vpp import add_routes as add_vpp_routes
from phoenyra_ems.api.ws import WebSocketHub
from phoenyra_ems.auth.models import Principal
from phoenyra_ems.auth.store import AuthStore
from phoenyra_ems.client.wire import dump
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.fleet import Fleet

LOG = logging.getLogger(__name__)
PREFIX = "/api/v1"
PUBLIC = {f"{PREFIX}/openapi.json", f"{PREFIX}/health", f"{PREFIX}/community/ledger/public-key"}

FLEET = web.AppKey("fleet", Fleet)
AUTH = web.AppKey("auth", AuthStore)
HUB = web.AppKey("hub", WebSocketHub)
INSTANCE = web.AppKey("instance_id", str)
RELOAD = web.AppKey("reload", object)


class SensorSource(Protocol):
    """What the sensor routes read of the edge-sensor registry (``mqtt.registry.SensorRegistry``,
    filled by the daemon's sensor service); the API does not import the MQTT package."""

    def snapshot(self) -> dict[str, dict[str, Any]]: ...

    def role_summary(self, site: str) -> dict[str, dict[str, Any]]: ...


SENSORS: web.AppKey[SensorSource | None] = web.AppKey("sensors")
LOGINS = web.AppKey("logins", LoginLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if request.path == f"{PREFIX}/ws":
        return request.query.get("token")
    return None


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication and JSON errors for every route."""
    try:
        if request.path not in PUBLIC:
            token = _token(request)
            if not token:
                raise ApiError(401, "unauthorized", "missing or invalid API token")
            principal = await request.app[AUTH].authenticate(token)
            if principal is None:
                _login_failed(request)
            request[PRINCIPAL] = principal
            request[TOKEN] = token
        return await handler(request)
    except ApiError as err:
        return err.response()
    except web.HTTPException as err:
        if err.status >= 400:
            response = error_response(err.status, err.reason.lower().replace(" ", "_"), err.reason)
            for header in ("Allow",):  # e.g. 405 must name the allowed methods (RFC 9110)
                if header in err.headers:
                    response.headers[header] = err.headers[header]
            return response
        raise
    except Exception:
        LOG.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error (logged)")


def _login_failed(request: web.Request) -> NoReturn:
    """Log a rejected token (never the token) and answer 401, or 429 beyond the address's limit."""
    client = request.remote or "unknown"
    verdict = request.app[LOGINS].failed(client)
    where = f"{request.method} {request.path}"  # the path only: a WebSocket's query holds the token
    if verdict.retry_after is None:
        LOG.warning("failed login from %s on %s: unknown or revoked token", client, where)
        raise ApiError(401, "unauthorized", "missing or invalid API token")
    if verdict.first_refusal:
        LOG.warning("failed logins from %s (last on %s): limit reached, answering 429", client, where)
    seconds = f"{verdict.retry_after:.0f}"
    raise ApiError(
        429,
        "too_many_requests",
        f"too many failed logins from this address; retry in {seconds} s",
        headers={"Retry-After": seconds},
    )


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _site(request: web.Request, control: bool = False) -> tuple[SiteConfig, SiteController | None]:
    fleet = request.app[FLEET]
    site_id = request.match_info["site_id"]
    slot = fleet.slot(site_id)
    if slot is None:
        raise ApiError(404, "not_found", f"unknown site {site_id!r}")
    who = principal(request)
    if not who.can_read(site_id):
        raise ApiError(403, "forbidden", f"no access to site {site_id!r}")
    if control and not who.can_control(site_id):
        raise ApiError(403, "forbidden", f"role {who.role} may not control site {site_id!r}")
    return slot.config, fleet.controller(site_id)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, allow_nan=False))


async def _body(request: web.Request) -> Any:
    try:
        return loads_bounded(await request.read())
    except JsonTooDeep as err:
        raise ApiError(422, "invalid_request", f"body is {err}", {"body": str(err)}) from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise ApiError(422, "invalid_request", "body is not valid JSON", {"body": "not valid JSON"}) from err


# --- routes ---------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def info(request: web.Request) -> web.Response:
    who = principal(request)
    return _json(
        {
            "instance_id": request.app[INSTANCE],
            "version": __version__,
            "user": who.user,
            "role": str(who.role),
            "site_count": len([i for i in request.app[FLEET].site_ids() if who.can_read(i)]),
        }
    )


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


async def list_sites(request: web.Request) -> web.Response:
    fleet, who = request.app[FLEET], principal(request)
    sites = [
        serialize.site_json(slot.config, slot.state)
        for site_id, slot in fleet.slots.items()
        if who.can_read(site_id)
    ]
    return _json({"sites": sites})


async def aggregated(request: web.Request) -> web.Response:
    if not principal(request).is_admin:
        raise ApiError(403, "forbidden", "only admins see the aggregate of all sites")
    return _json(serialize.aggregated_json(request.app[FLEET].aggregated()))


async def get_site(request: web.Request) -> web.Response:
    site, controller = _site(request)
    slot = request.app[FLEET].slot(site.site_id)
    assert slot is not None
    return _json(serialize.site_detail_json(site, slot.state, controller))


async def get_state(request: web.Request) -> web.Response:
    site, _ = _site(request)
    slot = request.app[FLEET].slot(site.site_id)
    assert slot is not None
    return _json(serialize.state_json(slot.state))


async def get_alarms(request: web.Request) -> web.Response:
    site, _ = _site(request)
    slot = request.app[FLEET].slot(site.site_id)
    assert slot is not None
    return _json({"site_id": site.site_id, "alarms": [serialize.alarm_json(a) for a in slot.state.alarms]})


async def get_history(request: web.Request) -> web.Response:
    site, controller = _site(request)
    if controller is None or controller.history is None:
        raise ApiError(503, "unavailable", f"site {site.site_id!r} is not running")
    start, end, step = parse_history_query(dict(request.query), controller.clock.now())
    records = await controller.history.query(start, end, step)
    return _json(
        {
            "site_id": site.site_id,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "step": step,
            "samples": [serialize.history_json(r) for r in records],
        }
    )


def _running(site: SiteConfig, controller: SiteController | None) -> SiteController:
    if controller is None:
        raise ApiError(503, "unavailable", f"site {site.site_id!r} is not running")
    return controller


async def post_control(request: web.Request) -> web.Response:
    site, controller = _site(request, control=True)
    controller = _running(site, controller)
    body = await _body(request)
    intent = parse_control(body, controller)
    controller.set_intent(intent)
    ack = {"site_id": site.site_id, "accepted": True, "control": serialize.control_json(intent)}
    request.app[HUB].broadcast_ack(site.site_id, ack, principal(request).user)
    LOG.info("site %s: control %s by %s", site.site_id, ack["control"], principal(request).user)
    return _json(ack)


async def put_limits(request: web.Request) -> web.Response:
    site, controller = _site(request, control=True)
    controller = _running(site, controller)
    overrides = parse_limits(await _body(request), site, controller.overrides)
    controller.set_limits(overrides)
    return _json({"site_id": site.site_id, "limits": serialize.limits_json(site, overrides)})


async def post_reload(request: web.Request) -> web.Response:
    if not principal(request).is_admin:
        raise ApiError(403, "forbidden", "only admins reload the configuration")
    reload = request.app[RELOAD]
    if not callable(reload):
        raise ApiError(503, "unavailable", "this daemon has no configuration file to reload")
    result = await reload()
    return _json(result)


async def list_sensors(request: web.Request) -> web.Response:
    """Every sensor the user may see; admins also see unassigned (discovered) ones."""
    who = principal(request)
    registry = request.app[SENSORS]
    snapshot = registry.snapshot() if registry is not None else {}
    visible = [
        dump(wire.Sensor(id=sid, **data))
        for sid, data in snapshot.items()
        if (data["site"] is None and who.is_admin)
        or (data["site"] is not None and who.can_read(data["site"]))
    ]
    return _json({"sensors": visible})


async def site_sensors(request: web.Request) -> web.Response:
    site, _ = _site(request)
    registry = request.app[SENSORS]
    snapshot = registry.snapshot() if registry is not None else {}
    sensors = [
        dump(wire.Sensor(id=sid, **data)) for sid, data in snapshot.items() if data["site"] == site.site_id
    ]
    roles = registry.role_summary(site.site_id) if registry is not None else {}
    return _json({"site_id": site.site_id, "sensors": sensors, "roles": roles})


async def site_forecast(request: web.Request) -> web.Response:
    site, controller = _site(request)
    forecaster = None
    if controller is not None:
        from phoenyra_ems.forecast.service import SiteForecaster  # pandas & co. only when used

        forecaster = next((a for a in controller.attachments if isinstance(a, SiteForecaster)), None)
    latest = fit = error = None
    if forecaster is not None:
        latest, fit, error = forecaster.latest, forecaster.last_fit, forecaster.last_error
    body = wire.SiteForecast(
        site_id=site.site_id,
        enabled=forecaster is not None,
        forecast=None if latest is None else serialize.project(wire.Forecast, latest),
        last_error=error,
        last_fit=None if fit is None else serialize.project(wire.ForecastFit, fit),
    )
    return _json(dump(body))


async def site_selector(request: web.Request) -> web.Response:
    """AI strategy selection: mode, model, the current choice and the A/B tally (docs/ai-selection.md)."""
    site, controller = _site(request)
    if controller is not None:
        from phoenyra_ems.selector.service import SiteSelector  # scikit-learn & co. only when used

        selector = next((a for a in controller.attachments if isinstance(a, SiteSelector)), None)
        if selector is not None:
            return _json(dump(selector.status()))
    status = wire.SelectorStatus(  # no selector running: nothing trained, nothing chosen yet
        site_id=site.site_id,
        mode=wire.SelectionMode(site.strategy.selection_mode),
        ai_enabled=site.strategy.uses_ai,
        trained=False,
        trained_at=None,
        samples=0,
        current=None,
        ab_test=wire.AbTest(enabled=site.strategy.ai_selection.ab_test.enabled),
    )
    return _json(dump(status))


async def site_plan(request: web.Request) -> web.Response:
    site, controller = _site(request)
    return _json(plan_body(site.site_id, *current_plan(controller)))


def create_app(
    fleet: Fleet,
    auth: AuthStore,
    instance_id: str,
    ws_max_rate_hz: float = 2.0,
    reload: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    sensors: SensorSource | None = None,
    logins: LoginLimiter | None = None,
) -> web.Application:
    app = web.Application(middlewares=[middleware], client_max_size=64 * 1024)
    hub = WebSocketHub(fleet, auth, ws_max_rate_hz)
    app[FLEET], app[AUTH], app[HUB], app[INSTANCE], app[RELOAD] = fleet, auth, hub, instance_id, reload
    app[SENSORS] = sensors
    api = fleet.config.api
    if logins is None:
        logins = LoginLimiter(api.login_max_failures, api.login_failure_window_s)
    app[LOGINS] = logins
    app.router.add_get(f"{PREFIX}/health", health)
    app.router.add_get(f"{PREFIX}/openapi.json", openapi)
    app.router.add_get(f"{PREFIX}/info", info)
    app.router.add_get(f"{PREFIX}/sites", list_sites)
    app.router.add_get(f"{PREFIX}/sites/aggregated", aggregated)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}", get_site)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}/state", get_state)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}/history", get_history)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}/alarms", get_alarms)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}/sensors", site_sensors)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}/forecast", site_forecast)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}/plan", site_plan)
    app.router.add_get(f"{PREFIX}/sites/{{site_id}}/selector", site_selector)
    app.router.add_get(f"{PREFIX}/sensors", list_sensors)
    app.router.add_post(f"{PREFIX}/sites/{{site_id}}/control", post_control)
    app.router.add_put(f"{PREFIX}/sites/{{site_id}}/limits", put_limits)
    app.router.add_post(f"{PREFIX}/reload", post_reload)
    app.router.add_get(f"{PREFIX}/ws", hub.handle)
    from phoenyra_ems.api.community import add_routes as add_community_routes

    add_community_routes(app, lambda request: request.app[FLEET].config.community)
    from phoenyra_ems.vpp.webhook import WEBHOOK_PATH  # OpenADR 3 push
    from phoenyra_ems.vpp.webhook import add_routes as add_vpp_webhook

    PUBLIC.add(WEBHOOK_PATH)  # authenticated by the subscription's token, not an API key
    add_vpp_webhook(app)
    add_vpp_routes(app)  # GET /api/v1/vpp
    app.on_shutdown.append(hub.close_all)
    return app
