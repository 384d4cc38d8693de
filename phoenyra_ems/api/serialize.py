"""JSON shapes of the API, derived from the wire models (the dataclasses of ``phoenyra_ems.client``).

The client's dataclasses are the one description of each shape: the client parses with them, the
daemon fills them here (:func:`project` copies the fields of a domain object by name) and dumps them
with ``wire.dump``, and ``openapi.py`` derives its schemas from them. Measured floats are rounded at
the edge as each field's metadata says, so that ``52.300000000000004`` % is ``52.3``: powers (kW)
to 3 decimals (1 W), SoC, SoH and temperatures to 2, prices (EUR/MWh) to 2; never ``-0.0``.
"""

from __future__ import annotations

import enum
import typing
from dataclasses import is_dataclass
from typing import Any, TypeVar

from phoenyra_ems import client as wire
from phoenyra_ems.client.wire import dump, wire_fields
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.aggregation import AggregatedState
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.core.overrides import LimitOverrides, apply_overrides
from phoenyra_ems.core.vpp import VppSiteStatus
from phoenyra_ems.history.store import HistoryRecord
from phoenyra_ems.models import Alarm, PlantState, SiteMode

JSON = dict[str, Any]
_W = TypeVar("_W")


def project(model: type[_W], source: Any, **values: Any) -> _W:
    """An instance of the wire ``model`` from ``source``'s attributes of the same names (``values``
    given here win); nested wire models, tuples of them and enums are converted on the way."""
    kwargs = {
        f.name: _convert(f.tp, values[f.name] if f.name in values else getattr(source, f.name))
        for f in wire_fields(model)
    }
    return model(**kwargs)


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(tp, type) and is_dataclass(tp):
        return value if isinstance(value, tp) else project(tp, value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if typing.get_origin(tp) is tuple:
        return tuple(_convert(typing.get_args(tp)[0], v) for v in value)
    return value


def state_model(state: PlantState) -> wire.SiteState:
    return project(wire.SiteState, state, inputs=state.extras, vpp=vpp_state_model(state.vpp))


def alarm_json(alarm: Alarm) -> JSON:
    return dump(project(wire.Alarm, alarm))


def state_json(state: PlantState) -> JSON:
    return dump(state_model(state))


def vpp_state_model(status: VppSiteStatus | None) -> wire.VppState | None:
    """The site's VPP block: the active event, its committed power, the deviation, the offer."""
    if status is None:
        return None
    return project(wire.VppState, status, active=status.event_id is not None)


def control_model(intent: ControlIntent) -> wire.Control:
    manual = intent.mode == SiteMode.MANUAL
    return wire.Control(
        intent.mode, intent.strategy, intent.manual_setpoint_kw if manual else None, intent.manual_expires
    )


def control_json(intent: ControlIntent) -> JSON:
    return dump(control_model(intent))


def limits_model(site: SiteConfig, overrides: LimitOverrides) -> wire.Limits:
    """The operator limits and the limits in force (``apply_overrides``: the one computation)."""
    effective = apply_overrides(site, overrides).bess
    return project(
        wire.Limits,
        overrides,
        soc_min_pct=site.bess.soc_min_pct,
        soc_max_pct=site.bess.soc_max_pct,
        hardware_power_charge_max_kw=site.bess.power_charge_max_kw,
        hardware_power_discharge_max_kw=site.bess.power_discharge_max_kw,
        setpoint_min_kw=-effective.power_charge_max_kw + 0.0,
        setpoint_max_kw=effective.power_discharge_max_kw,
        effective_soc_min_pct=effective.soc_min_pct,
    )


def limits_json(site: SiteConfig, overrides: LimitOverrides) -> JSON:
    return dump(limits_model(site, overrides))


def site_model(site: SiteConfig, state: PlantState) -> wire.Site:
    return project(
        wire.Site,
        site,
        id=site.site_id,
        status=state.status,
        device=site.modbus,
        strategies=tuple(site.ems.strategies),
    )


def site_json(site: SiteConfig, state: PlantState) -> JSON:
    return dump(site_model(site, state))


def site_detail_json(site: SiteConfig, state: PlantState, controller: SiteController | None) -> JSON:
    """The site with its state; ``control`` and ``limits`` only while its controller runs."""
    detail = wire.SiteDetail(
        site_model(site, state),
        state_model(state),
        None if controller is None else control_model(controller.intent),
        None if controller is None else limits_model(site, controller.overrides),
    )
    body = dump(detail)
    if controller is None:  # absent rather than null, as daemons always sent it
        del body["control"], body["limits"]
    return body


def aggregated_json(agg: AggregatedState) -> JSON:
    return dump(project(wire.AggregatedState, agg, sites=tuple(state_model(s) for s in agg.sites)))


def history_json(record: HistoryRecord) -> JSON:
    return dump(project(wire.HistorySample, record, timestamp=record.time))
