"""Energy-community sensors of a member site (docs/community.md): the energy it received from and
provided to the community today (kWh, ``total_increasing``: Energy-dashboard ready, reset at the
community's local midnight) and its net amount this month (EUR; > 0: the site is paid).

Created for every site that is a member the token's user may see, as it appears; read from the
daemon's ``GET /community`` (``coordinator.community``), unavailable while that cannot be read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import callback
from homeassistant.helpers.typing import StateType
from phoenyra_client import CommunityState, MemberInterval

from .coordinator import PhoenyraCoordinator
from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback


def member_of(community: CommunityState | None, site_id: str) -> str | None:
    """The member id of our site ``site_id`` if the user may see its figures."""
    member = None if community is None else community.member_for_site(site_id)
    return member.id if member is not None and member.visible else None


def _figure(period: str, name: str) -> Callable[[CommunityState, str], StateType]:
    def value(community: CommunityState, member: str) -> StateType:
        sums = community.today if period == "today" else community.month_to_date
        figures = sums.get(member)
        return 0.0 if figures is None else float(getattr(figures, name))  # nothing recorded yet: 0

    return value


def _net_month(community: CommunityState, member: str) -> StateType:
    figures = community.month_to_date.get(member)
    return 0.0 if figures is None else round(figures.earned_eur - figures.paid_eur, 2)


def _today_attributes(community: CommunityState, member: str) -> dict[str, Any]:
    return {"community": community.id, "member": member, "date": community.date}


def _month_attributes(community: CommunityState, member: str) -> dict[str, Any]:
    figures: MemberInterval | None = community.month_to_date.get(member)
    return {
        "community": community.id,
        "member": member,
        "month": community.month,
        "paid_eur": round(figures.paid_eur, 2) if figures else 0.0,
        "earned_eur": round(figures.earned_eur, 2) if figures else 0.0,
        "received_kwh": round(figures.received_kwh, 3) if figures else 0.0,
        "provided_kwh": round(figures.provided_kwh, 3) if figures else 0.0,
        "surplus_kwh": round(figures.surplus_kwh, 3) if figures else 0.0,
    }


@dataclass(frozen=True, kw_only=True)
class PhoenyraCommunitySensorEntityDescription(SensorEntityDescription):
    """A community sensor of a member site; ``value_fn(community state, member id)``."""

    value_fn: Callable[[CommunityState, str], StateType]
    attributes_fn: Callable[[CommunityState, str], dict[str, Any]]


COMMUNITY_SENSORS: tuple[PhoenyraCommunitySensorEntityDescription, ...] = (
    PhoenyraCommunitySensorEntityDescription(
        key="community_received_today",
        translation_key="community_received_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=_figure("today", "received_kwh"),
        attributes_fn=_today_attributes,
    ),
    PhoenyraCommunitySensorEntityDescription(
        key="community_provided_today",
        translation_key="community_provided_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=_figure("today", "provided_kwh"),
        attributes_fn=_today_attributes,
    ),
    PhoenyraCommunitySensorEntityDescription(
        key="community_amount_month",
        translation_key="community_amount_month",
        device_class=SensorDeviceClass.MONETARY,
        native_unit_of_measurement="EUR",  # ISO 4217, as Home Assistant wants for monetary
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=_net_month,
        attributes_fn=_month_attributes,
    ),
)


@callback
def async_add_community_sensors(
    coordinator: PhoenyraCoordinator, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """The community sensors of every member site the user may see; now and whenever one appears."""
    known: set[str] = set()

    @callback
    def _check() -> None:
        if coordinator.data is None:
            return
        new = sorted(
            site_id
            for site_id in coordinator.data.sites
            if site_id not in known and member_of(coordinator.community, site_id) is not None
        )
        if new:
            known.update(new)
            async_add_entities(
                PhoenyraCommunitySensor(coordinator, site_id, d) for site_id in new for d in COMMUNITY_SENSORS
            )

    _check()
    entry.async_on_unload(coordinator.async_add_listener(_check))


class PhoenyraCommunitySensor(PhoenyraEntity, SensorEntity):
    """A member site's community figure; unavailable while the community state cannot be read."""

    entity_description: PhoenyraCommunitySensorEntityDescription

    @property
    def _member(self) -> str | None:
        return member_of(self.coordinator.community, self.site_id)

    @property
    def available(self) -> bool:
        return super().available and self._member is not None

    @property
    def native_value(self) -> StateType:
        community, member = self.coordinator.community, self._member
        if community is None or member is None:
            return None
        return self.entity_description.value_fn(community, member)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        community, member = self.coordinator.community, self._member
        if community is None or member is None:
            return None
        return self.entity_description.attributes_fn(community, member)
