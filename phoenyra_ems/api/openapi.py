"""The OpenAPI 3.0 document of /api/v1 (served at /api/v1/openapi.json, fuzzed by the tests)."""

from __future__ import annotations

from typing import Any

from phoenyra_ems import __version__

NUM = {"type": "number"}
NULLABLE_NUM = {"type": "number", "nullable": True}
STR = {"type": "string"}
NULLABLE_STR = {"type": "string", "nullable": True}
TIME = {"type": "string", "format": "date-time", "nullable": True}


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


NUM_LIST = {"type": "array", "items": NUM}
FLEXIBILITY = {
    **_obj(
        {
            "site_id": STR,
            "max_discharge_kw": NUM,
            "max_charge_kw": NUM,
            "duration_s": NUM,
            "available_energy_kwh": NUM,
            "headroom_energy_kwh": NUM,
        },
        ["site_id", "max_discharge_kw", "max_charge_kw", "duration_s"],
    ),
    "nullable": True,
}
VPP_STATE = {  # the site state's ``vpp`` block; null before the site's first cycle
    **_obj(
        {
            "active": {"type": "boolean"},
            "event_id": NULLABLE_STR,
            "committed_kw": NULLABLE_NUM,
            "actual_kw": NULLABLE_NUM,
            "deviation_kw": NULLABLE_NUM,
            "remaining_s": NULLABLE_NUM,
            "offered": FLEXIBILITY,
            "notes": {"type": "array", "items": STR},
        },
        ["active", "event_id", "committed_kw", "deviation_kw", "remaining_s"],
    ),
    "nullable": True,
}
FORECAST = _obj(
    {
        "site_id": STR,
        "enabled": {"type": "boolean"},
        "forecast": {
            **_obj(
                {
                    "made_at": TIME,
                    "start": TIME,
                    "step_s": {"type": "integer"},
                    "load_kw": NUM_LIST,
                    "pv_kw": {**NUM_LIST, "nullable": True},
                    "pv_source": NULLABLE_STR,
                    "predict_ms": NUM,
                    "members": {"type": "object", "additionalProperties": NUM_LIST},
                },
                ["made_at", "start", "step_s", "load_kw", "pv_kw"],
            ),
            "nullable": True,
        },
        "last_fit": {
            **_obj(
                {"fitted_at": TIME, "rows": {"type": "integer"}, "fit_s": NUM}, ["fitted_at", "rows", "fit_s"]
            ),
            "nullable": True,
        },
        "last_error": NULLABLE_STR,
    },
    ["site_id", "enabled", "forecast", "last_fit", "last_error"],
)

NUM_MAP = {"type": "object", "additionalProperties": NUM}
SELECTOR = _obj(
    {
        "site_id": STR,
        "mode": {"type": "string", "enum": ["auto", "score", "ai", "fixed"]},
        "ai_enabled": {"type": "boolean"},
        "trained": {"type": "boolean"},
        "trained_at": TIME,
        "samples": {"type": "integer"},
        "label_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "feature_importances": NUM_MAP,
        "current": {
            **_obj(
                {
                    "strategy": NULLABLE_STR,
                    "source": {"type": "string", "enum": ["ai", "score", "fixed"]},
                    "confidence": NULLABLE_NUM,
                    "reason": STR,
                    "arm": NULLABLE_STR,
                    "window_start": TIME,
                },
                ["strategy", "source", "confidence", "reason"],
            ),
            "nullable": True,
        },
        "ab_test": _obj(
            {
                "enabled": {"type": "boolean"},
                "tally": {"type": "object", "additionalProperties": NUM_MAP},
                "advantage": {
                    **_obj(
                        {
                            "ai_days": {"type": "integer"},
                            "score_days": {"type": "integer"},
                            "eur_per_day": NULLABLE_NUM,
                            "ci_low_eur": NULLABLE_NUM,
                            "ci_high_eur": NULLABLE_NUM,
                            "paired_eur_per_day": NULLABLE_NUM,
                            "valued_at": TIME,
                        },
                        ["ai_days", "score_days", "eur_per_day"],
                    ),
                    "nullable": True,
                },
            },
            ["enabled", "tally"],
        ),
        "last_error": NULLABLE_STR,
    },
    ["site_id", "mode", "ai_enabled", "trained", "trained_at", "samples", "current", "ab_test"],
)

PLAN_STEP = _obj(
    {
        "start": TIME,
        "battery_kw": NUM,
        "grid_kw": NUM,
        "soc_pct": NUM,
        "price_eur_mwh": NUM,
        "pv_kw": NUM,
        "load_kw": NUM,
    },
    ["start", "battery_kw", "grid_kw", "soc_pct", "price_eur_mwh", "pv_kw", "load_kw"],
)
PLAN = _obj(
    {
        "site_id": STR,
        "enabled": {"type": "boolean"},
        "plan": {
            **_obj(
                {
                    "start": TIME,
                    "step_s": NUM,
                    "status": {"type": "string", "enum": ["optimal", "slack", "failed"]},
                    "message": STR,
                    "solve_ms": NUM,
                    "source": STR,
                    "slack": _obj(
                        {"soc_kwh": NUM, "export_kw": NUM, "import_kw": NUM},
                        ["soc_kwh", "export_kw", "import_kw"],
                    ),
                    "steps": {"type": "array", "items": PLAN_STEP},
                    "reason": NULLABLE_STR,
                },
                ["start", "step_s", "status", "message", "solve_ms", "source", "slack", "steps"],
            ),
            "nullable": True,
        },
    },
    ["site_id", "enabled", "plan"],
)

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
    "Alarm": _obj(
        {"code": STR, "message": STR, "severity": STR, "since": TIME}, ["code", "message", "severity"]
    ),
    "State": _obj(
        {
            "site_id": STR,
            "timestamp": {"type": "string", "format": "date-time"},
            "soc": NUM,
            "soh": NUM,
            "temp_c": NULLABLE_NUM,
            "p_bess": NUM,
            "p_pv": NUM,
            "p_load": NUM,
            "p_grid": NUM,
            "price": NULLABLE_NUM,
            "setpoint": NUM,
            "strategy": NULLABLE_STR,
            "strategy_reason": STR,
            "mode": {"type": "string", "enum": ["auto", "manual", "standby"]},
            "status": STR,
            "alarms": {"type": "array", "items": _ref("Alarm")},
            "last_reading": TIME,
            "last_write": TIME,
            "energy": {  # the site's energy counters; null until the history file has been read
                **_obj(
                    {
                        "charged_kwh": NUM,
                        "discharged_kwh": NUM,
                        "imported_kwh": NUM,
                        "exported_kwh": NUM,
                        "since": TIME,
                    },
                    ["charged_kwh", "discharged_kwh", "imported_kwh", "exported_kwh"],
                ),
                "nullable": True,
            },
            "vpp": VPP_STATE,
        },
        ["site_id", "soc", "p_bess", "p_pv", "p_load", "p_grid", "mode", "status", "alarms"],
    ),
    "Site": _obj(
        {
            "id": STR,
            "name": STR,
            "status": STR,
            "location": {"type": "object"},
            "bess": {"type": "object"},
            "device": {"type": "object"},
            "strategies": {"type": "array", "items": STR},
        },
        ["id", "name", "status", "bess"],
    ),
    "LimitsState": _obj(
        {
            "soc_min_pct": NUM,
            "soc_max_pct": NUM,
            "soc_reserve_pct": NULLABLE_NUM,
            "power_charge_max_kw": NULLABLE_NUM,
            "power_discharge_max_kw": NULLABLE_NUM,
            "hardware_power_charge_max_kw": NUM,
            "hardware_power_discharge_max_kw": NUM,
        },
        ["soc_min_pct", "soc_max_pct", "hardware_power_charge_max_kw", "hardware_power_discharge_max_kw"],
    ),
    "ControlState": _obj(
        {"mode": STR, "strategy": NULLABLE_STR, "setpoint_kw": NULLABLE_NUM, "expires": TIME}, ["mode"]
    ),
    "HistorySample": _obj(
        {
            "timestamp": {"type": "string", "format": "date-time"},
            "soc": NULLABLE_NUM,
            "soh": NULLABLE_NUM,
            "temp_c": NULLABLE_NUM,
            "p_bess": NULLABLE_NUM,
            "p_pv": NULLABLE_NUM,
            "p_load": NULLABLE_NUM,
            "p_grid": NULLABLE_NUM,
            "price": NULLABLE_NUM,
            "setpoint": NULLABLE_NUM,
            "strategy": NULLABLE_STR,
            "mode": NULLABLE_STR,
            "status": NULLABLE_STR,
        },
        ["timestamp"],
    ),
    "Control": _obj(
        {
            "mode": {"type": "string", "enum": ["auto", "manual", "standby"]},
            "strategy": {"type": "string", "nullable": True},
            "setpoint_kw": {"type": "number", "description": "manual mode only; + discharge, - charge"},
            "duration_s": {"type": "number", "minimum": 1, "maximum": 86400},
        },
        ["mode"],
        extra=False,
    ),
    "Limits": _obj(
        {
            "soc_reserve_pct": NULLABLE_NUM,
            "power_charge_max_kw": NULLABLE_NUM,
            "power_discharge_max_kw": NULLABLE_NUM,
        },
        extra=False,
    )
    | {"minProperties": 1},
    "SiteDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Site"},
            _obj(
                {"state": _ref("State"), "control": _ref("ControlState"), "limits": _ref("LimitsState")},
                ["state"],
            ),
        ]
    },
    "ControlAck": _obj({"site_id": STR, "accepted": {"type": "boolean"}, "control": {"type": "object"}}),
    "Aggregated": _obj(
        {
            "site_count": {"type": "integer"},
            "total_capacity_kwh": NUM,
            "soc_avg_pct": NULLABLE_NUM,
            "p_bess": NUM,
            "p_pv": NUM,
            "p_load": NUM,
            "p_grid": NUM,
            "sites": {"type": "array", "items": _ref("State")},
        },
        ["site_count", "total_capacity_kwh", "sites"],
    ),
}


ALARMS = _obj({"site_id": STR, "alarms": {"type": "array", "items": _ref("Alarm")}}, ["site_id", "alarms"])
HISTORY = _obj(
    {
        "site_id": STR,
        "from": STR,
        "to": STR,
        "step": NULLABLE_NUM,
        "samples": {"type": "array", "items": _ref("HistorySample")},
    },
    ["site_id", "samples"],
)


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
SENSOR_LIST = {
    "type": "array",
    "items": _obj(
        {
            "id": STR,
            "name": STR,
            "value": NULLABLE_NUM,
            "unit": NULLABLE_STR,
            "age_s": NULLABLE_NUM,
            "available": {"type": "boolean"},
            "site": NULLABLE_STR,
            "role": NULLABLE_STR,
            "format": STR,
        },
        ["id", "name", "available", "format"],
    ),
}


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
                    "responses": {"200": _json({"type": "object"}), **ERRORS},
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
                        "200": _json({"type": "object"}),
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
