"""``phoenyra-ems check-config FILE``: validate a config and summarise its sites."""

from __future__ import annotations

import sys
from typing import TextIO

from phoenyra_ems.config.loader import load_config
from phoenyra_ems.config.model import EmsConfig
from phoenyra_ems.config.yaml_loader import ConfigError


def _num(value: float) -> str:
    return f"{value:g}"


def summary_lines(config: EmsConfig) -> list[str]:
    """Human summary: one header line, then one line per site."""
    api = config.api
    scheme = "https" if api.tls_cert else "http"
    count = len(config.sites)
    lines = [
        f"{config.source}: OK, {count} site{'s' if count != 1 else ''} "
        f"(default: {config.default_site_id}), API {scheme}://{api.host}:{api.port}"
    ]
    rows = [("id", "name", "capacity", "power ch/dis", "profile", "modbus")]
    for sid, site in config.sites.items():
        bess, mb = site.bess, site.modbus
        endpoint = f"{mb.host}:{mb.port} unit {mb.unit_id}" if mb.enabled else "disabled"
        rows.append(
            (
                sid,
                site.name,
                f"{_num(bess.energy_capacity_kwh)} kWh",
                f"{_num(bess.power_charge_max_kw)}/{_num(bess.power_discharge_max_kw)} kW",
                mb.profile,
                endpoint,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    community = config.community
    if community is not None:
        external = sum(1 for m in community.members.values() if m.kind == "external")
        lines.append(
            f"community {community.community_id}: {len(community.members)} members "
            f"({len(community.members) - external} sites, {external} external), key {community.key}, "
            f"price {community.price.mode}, ledger {community.ledger.where}"
        )
    lines.extend(notes(config))
    return [line.rstrip() for line in lines]


def notes(config: EmsConfig) -> list[str]:
    """Valid but probably unintended settings (the daemon runs, and logs the same at start)."""
    return [
        f"note: site {sid}: MQTT commands will be refused: set mqtt.command_key "
        "(or mqtt.commands: false), see docs/mqtt.md"
        for sid, site in config.sites.items()
        if site.mqtt.enabled and site.mqtt.commands and not site.mqtt.command_key
    ]


def check_config_main(path: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print every issue (``file:line: key.path: message``) to ``err`` and return 1,
    or print a summary of the sites to ``out`` and return 0."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        config = load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=err)
        return 1
    for line in summary_lines(config):
        print(line, file=out)
    return 0
