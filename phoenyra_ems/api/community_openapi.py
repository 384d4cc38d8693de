"""The community routes in the OpenAPI document (merged by ``openapi.openapi_document``)."""

from __future__ import annotations

from typing import Any

from phoenyra_ems.api.openapi import ERRORS, NULLABLE_STR, NUM, STR, _json, _obj, _ref
from phoenyra_ems.core.community.settlement import MEMBER_FIGURES as SETTLEMENT_FIGURES

MEMBER_FIGURES = _obj({name: NUM for name in SETTLEMENT_FIGURES})
INTERVAL = _obj(
    {
        "interval": STR,
        "price_eur_kwh": NUM,
        "members": {"type": "object", "additionalProperties": MEMBER_FIGURES},
    },
    ["interval", "price_eur_kwh", "members"],
)
SIGNED = _obj({"body": STR, "signature": STR}, ["body", "signature"])
NOT_CONFIGURED = {"404": _json(_ref("Error"), "no community configured, or no key yet")}
UNAVAILABLE = {"503": _json(_ref("Error"), "the ledger cannot be read")}


def community_paths(invalid: dict[str, Any]) -> dict[str, Any]:
    errors = {**ERRORS, **NOT_CONFIGURED, **UNAVAILABLE}
    return {
        "/api/v1/community": {
            "get": {
                "summary": "the energy community: key, price, members, ledger head, latest interval "
                "(figures of the members you may see)",
                "responses": {
                    "200": _json(
                        _obj(
                            {
                                "id": STR,
                                "name": STR,
                                "key": STR,
                                "members": {"type": "array", "items": {"type": "object"}},
                                "ledger": _obj({"records": NUM, "head": NULLABLE_STR}),
                                "latest_interval": {**INTERVAL, "nullable": True},
                                "today": _obj({"date": STR, "members": {"type": "object"}}),
                                "month": _obj({"month": STR, "members": {"type": "object"}}),
                            },
                            ["id", "members", "ledger"],
                        )
                    ),
                    **errors,
                },
            }
        },
        "/api/v1/community/allocations": {
            "get": {
                "summary": "recorded allocations per 15-min interval (default: today; at most 31 days)",
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                ],
                "responses": {
                    "200": _json(
                        _obj(
                            {"from": STR, "to": STR, "intervals": {"type": "array", "items": INTERVAL}},
                            ["intervals"],
                        )
                    ),
                    **errors,
                    **invalid,
                },
            }
        },
        "/api/v1/community/settlements/{month}": {
            "get": {
                "summary": "the month's settlement per member (yours only; admins: all)",
                "parameters": [
                    {"name": "month", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json(
                        _obj(
                            {
                                "month": STR,
                                "settled": {"type": "boolean"},
                                "members": {"type": "array", "items": {"type": "object"}},
                            },
                            ["month", "settled", "members"],
                        )
                    ),
                    **errors,
                    **invalid,
                },
            }
        },
        "/api/v1/community/ledger": {
            "get": {
                "summary": "the ledger's head and latest signed checkpoint",
                "responses": {
                    "200": _json(
                        _obj(
                            {"records": NUM, "head": NULLABLE_STR, "checkpoint": {**SIGNED, "nullable": True}}
                        )
                    ),
                    **errors,
                },
            }
        },
        "/api/v1/community/ledger/checkpoints": {
            "get": {
                "summary": "every signed checkpoint (RFC 9162 tree heads)",
                "responses": {
                    "200": _json(_obj({"checkpoints": {"type": "array", "items": SIGNED}}, ["checkpoints"])),
                    **errors,
                },
            }
        },
        "/api/v1/community/ledger/public-key": {
            "get": {
                "security": [],
                "summary": "the ledger's Ed25519 public key and its rotations (no token)",
                "responses": {
                    "200": _json(
                        _obj(
                            {
                                "key_id": STR,
                                "public_key_hex": STR,
                                "public_key_pem": STR,
                                "history": {"type": "array", "items": {"type": "object"}},
                            },
                            ["key_id", "public_key_hex", "public_key_pem"],
                        )
                    ),
                    **NOT_CONFIGURED,
                    **UNAVAILABLE,
                },
            }
        },
    }
