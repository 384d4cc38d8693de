"""The enums of the wire format, shared by the daemon and the client (standard library only).

``scripts/build_client.py`` bundles this module into the ``phoenyra-client`` distribution, so the
client and the daemon name a site's mode, status and alarm severity with the same types.
"""

from __future__ import annotations

import enum


class SiteMode(enum.StrEnum):
    """How a site's setpoint is decided."""

    AUTO = "auto"  # the strategies decide
    MANUAL = "manual"  # an operator setpoint, with an expiry
    STANDBY = "standby"  # 0 kW, battery idle (grid limits still apply)


class SiteStatus(enum.StrEnum):
    """Health of a site's controller."""

    STARTING = "starting"
    RUNNING = "running"
    SAFE = "safe"  # the device does not answer: setpoint forced to 0 kW, reconnecting
    FAILED = "failed"  # the controller could not start or died; retried by the daemon
    STOPPED = "stopped"


class AlarmSeverity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class SelectionMode(enum.StrEnum):
    """Who chooses a site's strategy (``strategy.selection_mode``, docs/ai-selection.md)."""

    AUTO = "auto"  # the AI when enabled and trained, else the scores
    SCORE = "score"
    AI = "ai"  # the scores until the AI is trained
    FIXED = "fixed"  # always ``ems.default_strategy``


class ChoiceSource(enum.StrEnum):
    """Who made a selector's current choice."""

    AI = "ai"
    SCORE = "score"
    FIXED = "fixed"
