"""Who chose a site's strategy (AI / scores / pinned / fixed …) and, with an A/B test, the AI's
advantage in EUR per day (``GET /sites/{id}/selector``, docs/ai-selection.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorEntityDescription
from homeassistant.core import callback
from homeassistant.helpers.typing import StateType
from phoenyra_client import Control, Mode, SelectorStatus

from .coordinator import PhoenyraCoordinator, SiteData
from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

# --- strategy selection (docs/ai-selection.md) ----------------------------------------------------
# who chose the active strategy: the AI model, the score-based selection, the operator (a pinned
# strategy), the configuration (selection_mode fixed), or nobody (manual / standby mode)
SELECTION_OPTIONS = ["ai", "score", "pinned", "fixed", "manual", "standby"]


def selection_chooser(status: SelectorStatus, control: Control | None) -> str:
    if control is not None and control.mode is not Mode.AUTO:
        return control.mode.value
    if control is not None and control.strategy is not None:
        return "pinned"
    if status.source is not None:
        return status.source
    return "fixed" if status.mode == "fixed" else "score"


def _selection_attributes(status: SelectorStatus, _data: SiteData) -> dict[str, Any]:
    return {
        "selection_mode": status.mode,  # configured: auto | score | ai | fixed
        "strategy": status.strategy,
        "confidence": status.confidence,
        "trained": status.trained,
        "trained_at": status.trained_at.isoformat() if status.trained_at else None,
        "samples": status.samples,
    }


def _ab_advantage(status: SelectorStatus, _data: SiteData) -> StateType:
    advantage = status.ab_advantage
    return None if advantage is None else advantage.eur_per_day


def _ab_attributes(status: SelectorStatus, _data: SiteData) -> dict[str, Any]:
    advantage = status.ab_advantage
    tally = status.ab_tally
    return {
        "ci_low_eur": advantage.ci_low_eur if advantage else None,
        "ci_high_eur": advantage.ci_high_eur if advantage else None,
        "paired_eur_per_day": advantage.paired_eur_per_day if advantage else None,
        "ai_days": int(tally.get("ai", {}).get("days", 0)),
        "score_days": int(tally.get("score", {}).get("days", 0)),
        "ai_switches_per_day": tally.get("ai", {}).get("switches_per_day"),
        "score_switches_per_day": tally.get("score", {}).get("switches_per_day"),
    }


@dataclass(frozen=True, kw_only=True)
class PhoenyraSelectorSensorEntityDescription(SensorEntityDescription):
    """A sensor of the site's strategy selection; ``value_fn(status, site data)``."""

    value_fn: Callable[[SelectorStatus, SiteData], StateType]
    attributes_fn: Callable[[SelectorStatus, SiteData], dict[str, Any]]
    ab_only: bool = False  # only for sites with an A/B test


SELECTOR_SENSORS: tuple[PhoenyraSelectorSensorEntityDescription, ...] = (
    PhoenyraSelectorSensorEntityDescription(
        key="strategy_selection",
        translation_key="strategy_selection",
        device_class=SensorDeviceClass.ENUM,
        options=SELECTION_OPTIONS,
        value_fn=lambda status, data: selection_chooser(status, data.control),
        attributes_fn=_selection_attributes,
    ),
    PhoenyraSelectorSensorEntityDescription(
        key="ab_advantage",
        translation_key="ab_advantage",
        device_class=SensorDeviceClass.MONETARY,  # EUR per day: AI days' mean minus score days' mean
        native_unit_of_measurement="EUR",  # ISO 4217, as Home Assistant wants for monetary
        suggested_display_precision=2,
        value_fn=_ab_advantage,
        attributes_fn=_ab_attributes,
        ab_only=True,
    ),
)


@callback
def async_add_selector_sensors(
    coordinator: PhoenyraCoordinator, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """The selection sensor of every site the daemon reports a selector status for, and the A/B
    advantage of every site with an A/B test; now and whenever one appears."""
    known: set[tuple[str, str]] = set()

    @callback
    def _check() -> None:
        if coordinator.data is None:
            return
        current = {
            (site_id, d.key)
            for site_id, status in coordinator.selectors.items()
            if site_id in coordinator.data.sites
            for d in SELECTOR_SENSORS
            if status.ab_enabled or not d.ab_only
        }
        new = sorted(current - known)
        if new:
            known.update(new)
            by_key = {d.key: d for d in SELECTOR_SENSORS}
            async_add_entities(
                [PhoenyraSelectorSensor(coordinator, site_id, by_key[key]) for site_id, key in new]
            )

    _check()
    entry.async_on_unload(coordinator.async_add_listener(_check))


class PhoenyraSelectorSensor(PhoenyraEntity, SensorEntity):
    """Who chooses the site's strategy, or the A/B test's advantage; unavailable without a status."""

    entity_description: PhoenyraSelectorSensorEntityDescription
    _unrecorded_attributes = frozenset({"confidence", "trained_at", "samples"})

    @property
    def _status(self) -> SelectorStatus | None:
        return self.coordinator.selectors.get(self.site_id)

    @property
    def available(self) -> bool:
        return super().available and self._status is not None

    @property
    def native_value(self) -> StateType:
        status, data = self._status, self.site_data
        if status is None or data is None:
            return None
        return self.entity_description.value_fn(status, data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        status, data = self._status, self.site_data
        if status is None or data is None:
            return None
        return self.entity_description.attributes_fn(status, data)
