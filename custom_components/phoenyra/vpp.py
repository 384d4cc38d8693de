"""A site's VPP entities (docs/vpp.md): whether a VPP event is in progress, the power committed to
it, and the flexibility the site offers its aggregator (what it can actually deliver now)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntityDescription
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import UnitOfPower
from homeassistant.helpers.typing import StateType

from .coordinator import SiteData
from .sensor import PhoenyraSensorEntityDescription


def _event_attributes(d: SiteData) -> dict[str, Any]:
    vpp = d.state.vpp
    if vpp is None or not vpp.active:
        return {}
    return {
        "event_id": vpp.event_id,
        "remaining_s": vpp.remaining_s,
        "deviation_kw": vpp.deviation_kw,
        "notes": list(vpp.notes),
    }


def _offer(field: str) -> Callable[[SiteData], StateType]:
    def value(d: SiteData) -> StateType:
        vpp = d.state.vpp
        offer = None if vpp is None else vpp.offered
        return None if offer is None else float(getattr(offer, field))

    return value


def _offer_attributes(d: SiteData) -> dict[str, Any]:
    vpp = d.state.vpp
    offer = None if vpp is None else vpp.offered
    if offer is None:
        return {}
    return {
        "duration_s": offer.duration_s,
        "available_energy_kwh": offer.available_energy_kwh,
        "headroom_energy_kwh": offer.headroom_energy_kwh,
    }


@dataclass(frozen=True, kw_only=True)
class PhoenyraBinarySensorEntityDescription(BinarySensorEntityDescription):
    is_on_fn: Callable[[SiteData], bool | None]
    attributes_fn: Callable[[SiteData], dict[str, Any]] | None = None


VPP_BINARY_SENSORS: tuple[PhoenyraBinarySensorEntityDescription, ...] = (
    PhoenyraBinarySensorEntityDescription(
        key="vpp_event",
        translation_key="vpp_event",
        is_on_fn=lambda d: None if d.state.vpp is None else d.state.vpp.active,
        attributes_fn=_event_attributes,
    ),
)


def _power(key: str, value_fn: Callable[[SiteData], StateType], **kw: Any) -> PhoenyraSensorEntityDescription:
    return PhoenyraSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=value_fn,
        **kw,
    )


VPP_SENSORS: tuple[PhoenyraSensorEntityDescription, ...] = (
    # + discharge / - charge; unknown while no setpoint is committed
    _power("vpp_committed_power", lambda d: None if d.state.vpp is None else d.state.vpp.committed_kw),
    _power("vpp_offered_discharge", _offer("max_discharge_kw"), attributes_fn=_offer_attributes),
    _power("vpp_offered_charge", _offer("max_charge_kw"), attributes_fn=_offer_attributes),
)
