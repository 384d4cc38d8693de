"""The plan sensors of a site that plans (``optimiser`` among its strategies): the plan's battery
power now and the planned SoC at the end of today (reading the plan: plan.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfPower
from homeassistant.util import dt as dt_util
from phoenyra_client import Plan

from .entity import PhoenyraEntity
from .plan import end_of_today, hourly, usable_plan


@dataclass(frozen=True, kw_only=True)
class PhoenyraPlanSensorEntityDescription(SensorEntityDescription):
    """A sensor of the site's plan; ``value_fn(plan, now, timezone)``."""

    value_fn: Callable[[Plan, datetime, str], float | None]
    attributes_fn: Callable[[Plan, datetime, str], dict[str, Any]] | None = None


def _planned_battery_kw(plan: Plan, now: datetime, _timezone: str) -> float | None:
    step = plan.step_at(now)
    return None if step is None else step.battery_kw


def _plan_attributes(plan: Plan, now: datetime, timezone: str) -> dict[str, Any]:
    return {
        "reason": plan.reason,
        "status": plan.status.value,
        "plan_start": plan.start.isoformat(),
        "hourly": hourly(plan, now, timezone),  # <= 24 points, not recorded
    }


PLAN_SENSORS: tuple[PhoenyraPlanSensorEntityDescription, ...] = (
    PhoenyraPlanSensorEntityDescription(
        key="planned_battery_power",
        translation_key="planned_battery_power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=_planned_battery_kw,  # + discharging, - charging (the plan's present step)
        attributes_fn=_plan_attributes,
    ),
    PhoenyraPlanSensorEntityDescription(
        key="planned_soc_end_of_day",
        translation_key="planned_soc_end_of_day",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda plan, now, tz: plan.soc_at(end_of_today(now, tz)),  # site-local midnight
        attributes_fn=lambda plan, now, tz: {"at": end_of_today(now, tz).isoformat()},
    ),
)


class PhoenyraPlanSensor(PhoenyraEntity, SensorEntity):
    """The site's plan at this moment; unavailable while the site has no (usable) plan."""

    entity_description: PhoenyraPlanSensorEntityDescription
    # The hourly plan and its texts change with every replan: history would only fill the database.
    _unrecorded_attributes = frozenset({"reason", "status", "plan_start", "hourly", "at"})

    @property
    def _plan(self) -> Plan | None:
        return usable_plan(self.coordinator.plans.get(self.site_id))

    @property
    def available(self) -> bool:
        return super().available and self._plan is not None

    @property
    def native_value(self) -> float | None:
        plan, data = self._plan, self.site_data
        if plan is None or data is None:
            return None
        return self.entity_description.value_fn(plan, dt_util.utcnow(), data.site.location.timezone)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        plan, data = self._plan, self.site_data
        if plan is None or data is None or self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(plan, dt_util.utcnow(), data.site.location.timezone)
