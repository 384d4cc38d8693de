"""Constants of the Phoenyra EMS integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "phoenyra"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "Phoenyra"

CONF_TLS: Final = "tls"
CONF_VERIFY_SSL: Final = "verify_ssl"
CONF_SCAN_INTERVAL: Final = "scan_interval"
CONF_SETPOINT_DURATION: Final = "setpoint_duration"

DEFAULT_PORT: Final = 8080
DEFAULT_SCAN_INTERVAL_S: Final = 30  # polling fallback and site-list refresh
MIN_SCAN_INTERVAL_S: Final = 5
MAX_SCAN_INTERVAL_S: Final = 3600
DEFAULT_SETPOINT_DURATION_S: Final = 900  # the daemon's own default for manual mode
MAX_SETPOINT_DURATION_S: Final = 86400

REQUEST_TIMEOUT_S: Final = 10.0
RECONNECT_MIN_S: Final = 1.0
RECONNECT_MAX_S: Final = 30.0

STRATEGY_AUTOMATIC: Final = "automatic"  # select option: score-based selection (no pinned strategy)

ATTR_SITE: Final = "site"
ATTR_POWER_KW: Final = "power_kw"
ATTR_DURATION: Final = "duration"
ATTR_MODE: Final = "mode"
ATTR_STRATEGY: Final = "strategy"

SERVICE_SET_SETPOINT: Final = "set_setpoint"
SERVICE_SET_MODE: Final = "set_mode"

# sensor keys (unique ids) of the daemon's energy counters: unchanged since the integration counted them
ENERGY_KEYS: Final = ("energy_charged", "energy_discharged", "energy_imported", "energy_exported")
