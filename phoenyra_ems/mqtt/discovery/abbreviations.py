"""Home Assistant MQTT discovery abbreviations: the keys edge firmware uses and the common others.

ESPHome and Tasmota send abbreviated keys to keep discovery payloads small; ``expand`` maps them to
the full names (full names pass through unchanged), in the payload, its ``device``/``origin`` and
every ``availability`` entry.
"""

from __future__ import annotations

from typing import Any

ABBREVIATIONS: dict[str, str] = {
    # what a sensor / binary_sensor uses
    "avty": "availability",
    "avty_mode": "availability_mode",
    "avty_t": "availability_topic",
    "avty_tpl": "availability_template",
    "dev": "device",
    "dev_cla": "device_class",
    "e": "encoding",
    "en": "enabled_by_default",
    "ent_cat": "entity_category",
    "ent_pic": "entity_picture",
    "exp_aft": "expire_after",
    "frc_upd": "force_update",
    "ic": "icon",
    "json_attr": "json_attributes",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "lrst_t": "last_reset_topic",
    "lrst_val_tpl": "last_reset_value_template",
    "name": "name",
    "o": "origin",
    "obj_id": "object_id",
    "off_dly": "off_delay",
    "opt": "optimistic",
    "p": "platform",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "pl_off": "payload_off",
    "pl_on": "payload_on",
    "qos": "qos",
    "stat_cla": "state_class",
    "stat_t": "state_topic",
    "stat_tpl": "state_template",
    "stat_val_tpl": "state_value_template",
    "sug_dsp_prc": "suggested_display_precision",
    "t": "topic",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template",
    # common in other components (switch, number, select, button, light, climate, cover …)
    "act_t": "action_topic",
    "act_tpl": "action_template",
    "cmd_t": "command_topic",
    "cmd_tpl": "command_template",
    "cmps": "components",
    "curr_temp_t": "current_temperature_topic",
    "curr_temp_tpl": "current_temperature_template",
    "max": "max",
    "min": "min",
    "max_temp": "max_temp",
    "min_temp": "min_temp",
    "mode_cmd_t": "mode_command_topic",
    "mode_stat_t": "mode_state_topic",
    "mode_stat_tpl": "mode_state_template",
    "modes": "modes",
    "ops": "options",
    "pl": "payload",
    "pl_prs": "payload_press",
    "pl_rst": "payload_reset",
    "pos_t": "position_topic",
    "pos_tpl": "position_template",
    "ret": "retain",
    "set_pos_t": "set_position_topic",
    "stat_off": "state_off",
    "stat_on": "state_on",
    "step": "step",
    "temp_cmd_t": "temperature_command_topic",
    "temp_stat_t": "temperature_state_topic",
    "temp_stat_tpl": "temperature_state_template",
    "temp_unit": "temperature_unit",
    "bri_cmd_t": "brightness_command_topic",
    "bri_stat_t": "brightness_state_topic",
    "bri_val_tpl": "brightness_value_template",
    "bri_scl": "brightness_scale",
    "fx_cmd_t": "effect_command_topic",
    "fx_list": "effect_list",
    "fx_stat_t": "effect_state_topic",
    "pct_cmd_t": "percentage_command_topic",
    "pct_stat_t": "percentage_state_topic",
    "pr_mode_cmd_t": "preset_mode_command_topic",
    "pr_mode_stat_t": "preset_mode_state_topic",
    "pr_modes": "preset_modes",
    "rgb_cmd_t": "rgb_command_topic",
    "rgb_stat_t": "rgb_state_topic",
    "src_type": "source_type",
    "sup_clrm": "supported_color_modes",
    "sup_feat": "supported_features",
    "atype": "automation_type",
    "stype": "subtype",
}

DEVICE_ABBREVIATIONS: dict[str, str] = {
    "cns": "connections",
    "cu": "configuration_url",
    "hw": "hw_version",
    "ids": "identifiers",
    "mdl": "model",
    "mdl_id": "model_id",
    "mf": "manufacturer",
    "name": "name",
    "sa": "suggested_area",
    "sn": "serial_number",
    "sw": "sw_version",
    "via_device": "via_device",
}

ORIGIN_ABBREVIATIONS: dict[str, str] = {"name": "name", "sw": "sw_version", "url": "support_url"}


def _expand_keys(data: dict[str, Any], table: dict[str, str]) -> dict[str, Any]:
    return {table.get(key, key): value for key, value in data.items()}


def expand(payload: dict[str, Any]) -> dict[str, Any]:
    """Full key names everywhere HA accepts abbreviations (non-dict parts are left as they are)."""
    out = _expand_keys(payload, ABBREVIATIONS)
    if isinstance(out.get("device"), dict):
        out["device"] = _expand_keys(out["device"], DEVICE_ABBREVIATIONS)
    if isinstance(out.get("origin"), dict):
        out["origin"] = _expand_keys(out["origin"], ORIGIN_ABBREVIATIONS)
    if isinstance(out.get("availability"), list):
        out["availability"] = [
            _expand_keys(entry, ABBREVIATIONS) if isinstance(entry, dict) else entry
            for entry in out["availability"]
        ]
    return out


def substitute_base(payload: dict[str, Any]) -> dict[str, Any]:
    """Replace ``~`` at the start or end of every ``*_topic`` value (and availability topics).

    ``~`` is the base topic (``{"~": "tasmota/x", "stat_t": "~/SENSOR"}`` → ``tasmota/x/SENSOR``).
    """
    base = payload.get("~")
    if not isinstance(base, str):
        return payload

    def sub(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        if value.startswith("~"):
            value = base + value[1:]
        if value.endswith("~"):
            value = value[:-1] + base
        return value

    out = {k: sub(v) if k.endswith("_topic") else v for k, v in payload.items()}
    if isinstance(out.get("availability"), list):
        out["availability"] = [
            {k: sub(v) if k == "topic" else v for k, v in entry.items()} if isinstance(entry, dict) else entry
            for entry in out["availability"]
        ]
    return out
