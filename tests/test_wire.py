"""The wire format is described once (the client's dataclasses): what the daemon serialises, what the
client parses and what the OpenAPI document promises are the same shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from phoenyra_ems.api.openapi import openapi_document
from phoenyra_ems.api.serialize import state_json
from phoenyra_ems.client import PhoenyraInvalidResponseError, SiteState
from phoenyra_ems.client.wire import KW, Wire, dump, schema, spec
from phoenyra_ems.models import Alarm, AlarmSeverity, PlantState, SiteMode, SiteStatus

STATE = PlantState(
    site_id="wien",
    timestamp=datetime(2024, 6, 1, 10, 30, tzinfo=UTC),
    soc=52.3,
    p_bess=-12.5,
    p_pv=30.0,
    p_load=17.5,
    mode=SiteMode.MANUAL,
    status=SiteStatus.RUNNING,
    alarms=(Alarm("comm", "no answer", AlarmSeverity.CRITICAL, datetime(2024, 6, 1, tzinfo=UTC)),),
    extras={"room_temp_c": 21.5},
)


def _validator(document: dict[str, object], name: str) -> jsonschema.Draft4Validator:
    """A validator of one component schema (OpenAPI 3.0 ``nullable`` → JSON Schema null)."""

    def nullable(node: object) -> object:
        if isinstance(node, dict):
            node = {k: nullable(v) for k, v in node.items()}
            if node.pop("nullable", False):
                return {"anyOf": [node, {"type": "null"}]}
            return node
        if isinstance(node, list):
            return [nullable(v) for v in node]
        return node

    schemas = nullable(document["components"]["schemas"])  # type: ignore[index]
    root = {"components": {"schemas": schemas}, **schemas[name]}  # type: ignore[index]
    return jsonschema.Draft4Validator(root)


def test_what_the_daemon_sends_the_client_parses_back_and_the_document_describes() -> None:
    body = json.loads(json.dumps(state_json(STATE)))
    parsed = SiteState.from_dict(body)
    assert parsed.mode is SiteMode.MANUAL and parsed.alarms[0].severity is AlarmSeverity.CRITICAL
    assert parsed.inputs == {"room_temp_c": 21.5}  # sent as "inputs", no longer dropped by the client
    assert dump(parsed) == body  # one shape both ways
    _validator(openapi_document(), "State").validate(body)
    broken = {**body, "mode": "turbo"}
    with pytest.raises(jsonschema.ValidationError):
        _validator(openapi_document(), "State").validate(broken)
    with pytest.raises(PhoenyraInvalidResponseError, match=r"state\.mode: expected one of auto, manual"):
        SiteState.from_dict(broken)


@dataclass(frozen=True, slots=True)
class VppBlock(Wire):
    """A block another module might add to the site state: a dataclass, no parsing code."""

    PATH = "vpp"
    enrolled: bool
    flex_kw: float = field(metadata=KW)
    until: datetime | None = field(metadata=spec(key="valid_until"))
    programmes: tuple[str, ...] = ()


def test_a_new_shape_is_a_dataclass_and_nothing_else() -> None:
    data = {"enrolled": True, "flex_kw": 12.34567, "valid_until": "2024-06-01T12:00:00+00:00", "x": 1}
    block = VppBlock.from_dict(data)
    assert block == VppBlock(True, 12.34567, datetime(2024, 6, 1, 12, tzinfo=UTC))
    assert dump(block) == {
        "enrolled": True,
        "flex_kw": 12.346,
        "valid_until": "2024-06-01T12:00:00+00:00",
        "programmes": [],
    }
    assert schema(VppBlock)["required"] == ["enrolled", "flex_kw", "valid_until"]
    with pytest.raises(PhoenyraInvalidResponseError, match=r"vpp\.flex_kw: expected a finite number"):
        VppBlock.from_dict({**data, "flex_kw": float("nan")})
    with pytest.raises(PhoenyraInvalidResponseError, match=r"vpp\.enrolled: missing"):
        VppBlock.from_dict({"flex_kw": 1})


@dataclass(frozen=True, slots=True)
class Tally(Wire):
    PATH = "tally"
    site_id: str
    days: int = field(default=0, metadata=spec(sent=True))


def test_a_key_the_daemon_always_sends_is_required_by_the_document_not_by_the_parser() -> None:
    assert schema(Tally)["required"] == ["site_id", "days"]
    assert Tally.from_dict({"site_id": "wien"}) == Tally("wien")  # what an older daemon sent


def _served(path: str) -> jsonschema.Draft4Validator:
    """A validator of what a GET route serves, as the document describes it."""
    document: Any = openapi_document()
    body = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return _validator(
        {"components": {"schemas": {**document["components"]["schemas"], "Body": body}}}, "Body"
    )


def test_the_selector_is_one_shape_with_or_without_a_choice() -> None:
    from phoenyra_ems.client import (
        AbAdvantage,
        AbTest,
        ChoiceSource,
        SelectionMode,
        SelectorChoice,
        SelectorStatus,
    )

    idle = SelectorStatus("wien", SelectionMode.AUTO, False, False, None, 0, None)
    body = json.loads(json.dumps(dump(idle)))
    assert body["current"] is None and body["ab_test"] == {"enabled": False, "tally": {}, "advantage": None}
    chosen = SelectorStatus(
        "wien",
        SelectionMode.AI,
        True,
        True,
        datetime(2024, 6, 1, tzinfo=UTC),
        720,
        SelectorChoice(
            "arbitrage", ChoiceSource.AI, 0.8, "AI 80 %", "ai", datetime(2024, 6, 1, 10, tzinfo=UTC)
        ),
        AbTest(True, {"ai": {"days": 1, "switches": 2, "switches_per_day": 2.0}}, AbAdvantage(1, 1, 0.5)),
        label_counts={"arbitrage": 3},
    )
    for status in (idle, chosen):
        body = json.loads(json.dumps(dump(status)))
        _served("/api/v1/sites/{site_id}/selector").validate(body)
        assert SelectorStatus.from_dict(body) == status
    assert (chosen.strategy, chosen.source, chosen.ab_enabled) == ("arbitrage", "ai", True)  # flat reads
    with pytest.raises(jsonschema.ValidationError):
        _served("/api/v1/sites/{site_id}/selector").validate({**body, "mode": "turbo"})
