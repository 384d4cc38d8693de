"""The OpenAPI 3.0 document of /api/v1 (served at /api/v1/openapi.json, fuzzed by the tests).

Response schemas come from the wire models (the dataclasses of ``phoenyra_ems.client``); request
bodies, errors and the parameters are written here."""

from __future__ import annotations

from typing import Any

from phoenyra_ems import __version__
from phoenyra_ems import client as wire
from phoenyra_ems.client.wire import schema as wire_schema
from phoenyra_ems.enums import SiteMode

NUM = {"type": "number"}
NULLABLE_NUM = {"type": "number", "nullable": True}
STR = {"type": "string"}
NULLABLE_STR = {"type": "string", "nullable": True}


def _obj(properties: dict[str, Any], required: list[str] | None = None, extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# Response shapes: derived from the wire models (the client's dataclasses), so that the document,
# the daemon's serialisation and the client's parser cannot drift apart.
COMPONENTS: dict[str, type] = {  # named schemas (components/schemas) and the model each describes
    "Alarm": wire.Alarm,
    "State": wire.SiteState,
    "Site": wire.Site,
    "LimitsState": wire.Limits,
    "ControlState": wire.Control,
    "HistorySample": wire.HistorySample,
    "SiteDetail": wire.SiteDetail,
    "ControlAck": wire.ControlAck,
    "Aggregated": wire.AggregatedState,
}
_NAMES = {model: name for name, model in COMPONENTS.items()}


def _model_ref(model: type) -> dict[str, str] | None:
    name = _NAMES.get(model)
    return None if name is None else _ref(name)


def model_schema(model: type, named: bool = True) -> dict[str, Any]:
    """The schema of a wire model; nested named models as ``$ref`` (``named=False``: this one inline)."""
    return (_model_ref(model) if named else None) or wire_schema(model, _model_ref)


FORECAST = model_schema(wire.SiteForecast)
PLAN = model_schema(wire.SitePlan)
SELECTOR = model_schema(wire.SelectorStatus)

ERRORS = {
    "401": _json(_ref("Error"), "missing or invalid token"),
    "403": _json(_ref("Error"), "no access to this site or action"),
    "404": _json(_ref("Error"), "unknown site"),
    "429": {
        **_json(_ref("Error"), "too many failed logins from this address (Retry-After says how long)"),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}
SITE_ID = {"name": "site_id", "in": "path", "required": True, "schema": {"type": "string"}}

SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "status": {"type": "integer"},
                    "code": STR,
                    "message": STR,
                    "fields": {"type": "object", "additionalProperties": STR},
                },
                ["status", "code", "message"],
            )
        },
        ["error"],
    ),
    "Control": _obj(  # without mode: a strategy-only update (mode, setpoint and expiry are kept)
        {
            "mode": {"type": "string", "enum": [m.value for m in SiteMode]},
            "strategy": {"type": "string", "nullable": True},
            "setpoint_kw": {"type": "number", "description": "manual mode only; + discharge, - charge"},
            "duration_s": {"type": "number", "minimum": 1, "maximum": 86400},
        },
        extra=False,
    )
    | {"minProperties": 1},
    "Limits": _obj(
        {
            "soc_reserve_pct": NULLABLE_NUM,
            "power_charge_max_kw": NULLABLE_NUM,
            "power_discharge_max_kw": NULLABLE_NUM,
        },
        extra=False,
    )
    | {"minProperties": 1},
    **{name: model_schema(model, named=False) for name, model in COMPONENTS.items()},
}


ALARMS = _obj({"site_id": STR, "alarms": {"type": "array", "items": _ref("Alarm")}}, ["site_id", "alarms"])
HISTORY = model_schema(wire.History)


ROLE_SUMMARY = {  # each role's aggregate by its configured method (docs/configuration.md)
    "type": "object",
    "additionalProperties": _obj(
        {
            "value": NULLABLE_NUM,
            "method": STR,
            "used": {"type": "array", "items": STR},
            "dropped": {"type": "array", "items": _obj({"sensor": STR, "reason": STR})},
        },
        ["value", "method", "used", "dropped"],
    ),
}
SENSOR_LIST = {"type": "array", "items": model_schema(wire.Sensor)}


def openapi_document() -> dict[str, Any]:
    from phoenyra_ems.api.community_openapi import community_paths

    document = _document()
    document["paths"].update(
        community_paths({"422": _json(_ref("Error"), "invalid request, with per-field errors")})
    )
    from phoenyra_ems.api.vpp import vpp_paths

    document["paths"].update(vpp_paths(ERRORS))
    return document


def _document() -> dict[str, Any]:
    invalid = {"422": _json(_ref("Error"), "invalid request, with per-field errors")}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Phoenyra EMS API",
            "version": __version__,
            "description": "Every power in kW; p_grid + p_pv + p_bess = p_load; p_bess > 0 discharges.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/info": {
                "get": {
                    "summary": "instance id, version, who you are",
                    "responses": {"200": _json(model_schema(wire.Info)), **ERRORS},
                }
            },
            "/api/v1/sites": {
                "get": {
                    "summary": "sites you may see",
                    "responses": {
                        "200": _json(_obj({"sites": {"type": "array", "items": _ref("Site")}})),
                        **ERRORS,
                    },
                }
            },
            "/api/v1/sites/aggregated": {
                "get": {
                    "summary": "aggregate of all sites (admins)",
                    "responses": {"200": _json(_ref("Aggregated")), **ERRORS},
                }
            },
            "/api/v1/health": {
                "get": {
                    "security": [],
                    "summary": "liveness (no token)",
                    "responses": {"200": _json(_obj({"status": STR}))},
                }
            },
            "/api/v1/reload": {
                "post": {
                    "summary": "re-read the configuration file (admins)",
                    "responses": {
                        "200": _json(model_schema(wire.ReloadResult)),
                        **ERRORS,
                        "503": _json(_ref("Error"), "no config file"),
                    },
                }
            },
            "/api/v1/sites/{site_id}": {
                "get": {"parameters": [SITE_ID], "responses": {"200": _json(_ref("SiteDetail")), **ERRORS}}
            },
            "/api/v1/sites/{site_id}/state": {
                "get": {"parameters": [SITE_ID], "responses": {"200": _json(_ref("State")), **ERRORS}}
            },
            "/api/v1/sensors": {
                "get": {
                    "summary": "edge sensors you may see (admins: also unassigned ones)",
                    "responses": {"200": _json(_obj({"sensors": SENSOR_LIST}, ["sensors"])), **ERRORS},
                }
            },
            "/api/v1/sites/{site_id}/sensors": {
                "get": {
                    "parameters": [SITE_ID],
                    "responses": {
                        "200": _json(
                            _obj(
                                {"site_id": STR, "sensors": SENSOR_LIST, "roles": ROLE_SUMMARY},
                                ["site_id", "sensors"],
                            )
                        ),
                        **ERRORS,
                    },
                }
            },
            "/api/v1/sites/{site_id}/forecast": {
                "get": {
                    "summary": "the site's latest load and PV forecast (null until the first one)",
                    "parameters": [SITE_ID],
                    "responses": {"200": _json(FORECAST), **ERRORS},
                }
            },
            "/api/v1/sites/{site_id}/selector": {
                "get": {
                    "summary": "AI strategy selection: mode, model, current choice and confidence, A/B tally",
                    "parameters": [SITE_ID],
                    "responses": {"200": _json(SELECTOR), **ERRORS},
                }
            },
            "/api/v1/sites/{site_id}/plan": {
                "get": {
                    "summary": "the optimiser's current plan (null before the first one or without it)",
                    "description": "Also pushed to WebSocket subscribers of the site on every replan: "
                    '{"type": "plan", "site_id", "data": <this body>} (docs/api.md).',
                    "parameters": [SITE_ID],
                    "responses": {"200": _json(PLAN), **ERRORS},
                }
            },
            "/api/v1/sites/{site_id}/alarms": {
                "get": {"parameters": [SITE_ID], "responses": {"200": _json(ALARMS), **ERRORS}}
            },
            "/api/v1/sites/{site_id}/history": {
                "get": {
                    "parameters": [
                        SITE_ID,
                        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "step", "in": "query", "schema": {"type": "number", "minimum": 1}},
                    ],
                    "responses": {
                        "200": _json(HISTORY),
                        **ERRORS,
                        **invalid,
                        "503": _json(_ref("Error"), "site not running"),
                    },
                }
            },
            "/api/v1/sites/{site_id}/control": {
                "post": {
                    "parameters": [SITE_ID],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Control")}},
                    },
                    "responses": {
                        "200": _json(_ref("ControlAck")),
                        **ERRORS,
                        **invalid,
                        "503": _json(_ref("Error"), "site not running"),
                    },
                }
            },
            "/api/v1/sites/{site_id}/limits": {
                "put": {
                    "parameters": [SITE_ID],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Limits")}},
                    },
                    "responses": {
                        "200": _json(
                            _obj({"site_id": STR, "limits": _ref("LimitsState")}, ["site_id", "limits"])
                        ),
                        **ERRORS,
                        **invalid,
                        "503": _json(_ref("Error"), "site not running"),
                    },
                }
            },
        },
    }
