"""Configuration: YAML files validated into the typed ``EmsConfig`` (see docs/configuration.md).

Imports only the standard library, voluptuous and PyYAML (part of the lightweight client).
"""

from phoenyra_ems.config.loader import (
    load_config,
    load_config_async,
    load_config_or_report,
    load_config_text,
    load_site,
)
from phoenyra_ems.config.yaml_loader import ConfigError, ConfigIssue

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "load_config",
    "load_config_async",
    "load_config_or_report",
    "load_config_text",
    "load_site",
]
