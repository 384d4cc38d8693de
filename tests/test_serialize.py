"""The API's JSON has no float noise: kW to 3 decimals, % and °C to 2, prices to 2 (the MQTT
telemetry uses the same shapes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from phoenyra_ems.api.serialize import aggregated_json, history_json, state_json
from phoenyra_ems.core.aggregation import AggregatedState
from phoenyra_ems.history.store import HistoryRecord
from phoenyra_ems.models import PlantState

NOISY = PlantState(
    site_id="wien",
    timestamp=datetime(2024, 6, 1, 10, 30, tzinfo=UTC),
    soc=52.300000000000004,
    soh=99.10000000000001,
    temp_c=25.900000000000002,
    p_bess=0.1 + 0.2,  # 0.30000000000000004
    p_pv=80.12345678,
    p_load=61.3,
    p_grid=-0.00001,
    price=87.45000000000002,
    setpoint=-19.999999999999996,
    extras={"room_temp_c": 31.000000000000004},
)


def test_state_json_has_no_float_noise() -> None:
    text = json.dumps(state_json(NOISY))
    data = json.loads(text)
    assert (data["soc"], data["soh"], data["temp_c"]) == (52.3, 99.1, 25.9)
    assert (data["p_bess"], data["p_pv"], data["p_load"], data["setpoint"]) == (0.3, 80.123, 61.3, -20.0)
    assert data["p_grid"] == 0.0 and "-0.0" not in text  # no negative zero either
    assert data["price"] == 87.45 and data["inputs"] == {"room_temp_c": 31.0}
    assert "00000000" not in text and "9999999" not in text, text


def test_history_and_aggregate_json_have_no_float_noise() -> None:
    record = HistoryRecord.from_state(NOISY)
    assert "00000000" not in json.dumps(history_json(record))
    agg = AggregatedState(1, 200.0, 52.300000000000004, 0.1 + 0.2, 80.12345678, 61.3, -0.00001, (NOISY,))
    text = json.dumps(aggregated_json(agg))
    assert "00000000" not in text and "-0.0" not in text
    assert json.loads(text)["soc_avg_pct"] == 52.3
