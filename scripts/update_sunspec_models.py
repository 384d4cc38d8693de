"""Regenerate phoenyra_ems/devices/sunspec_models.json from the official SunSpec model definitions.

The SunSpec Alliance publishes every information model as JSON (github.com/sunspec/models,
``json/model_<id>.json``, Apache-2.0). ``pysunspec2`` (also Apache-2.0, by the SunSpec Alliance)
ships the same files in ``sunspec2/models/json``; this script reads them from there, keeps what
the codec needs (point order, name, type, size, scale-factor name, units, access; groups and the
count point of a repeating group) and drops descriptions, labels and symbols.

    pip install pysunspec2
    python scripts/update_sunspec_models.py            # rewrite the shipped JSON
    python scripts/update_sunspec_models.py --check    # exit 1 if the shipped JSON is stale

Add a model id to ``MODELS`` when the code starts to reference it.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import Any

# 1 common, 103 three-phase inverter (AC power fallback), 124 storage (control), 701 DER AC
# measurement (AC power fallback), 702 DER capacity (WDisChaRteMax), 704 DER AC controls,
# 713 storage capacity (SoC), 714 DC measurement (DC power), 802 battery.
MODELS = (1, 103, 124, 701, 702, 704, 713, 714, 802)
TARGET = Path(__file__).resolve().parent.parent / "phoenyra_ems" / "devices" / "sunspec_models.json"
KEEP = ("name", "type", "size", "sf", "units", "access")


def _point(raw: dict[str, Any]) -> dict[str, Any]:
    point = {key: raw[key] for key in KEEP if key in raw}
    if point.get("access") != "RW":
        point.pop("access", None)
    return point


def _group(raw: dict[str, Any], model_id: int) -> dict[str, Any]:
    if raw.get("groups"):
        raise ValueError(f"model {model_id}: nested group {raw['name']!r} is not supported by the codec")
    group: dict[str, Any] = {"name": raw["name"]}
    if "count" in raw:
        group["count"] = raw["count"]
    group["points"] = [_point(p) for p in raw["points"]]
    return group


def convert(model_id: int, raw: dict[str, Any]) -> dict[str, Any]:
    top = raw["group"]
    if int(raw["id"]) != model_id:
        raise ValueError(f"model_{model_id}.json declares id {raw['id']}")
    model: dict[str, Any] = {"name": top["name"], "points": [_point(p) for p in top["points"]]}
    groups = [_group(g, model_id) for g in top.get("groups", [])]
    if groups:
        model["groups"] = groups
    return model


def build() -> dict[str, Any]:
    version = metadata.version("pysunspec2")
    folder = resources.files("sunspec2") / "models" / "json"
    models = {
        str(mid): convert(mid, json.loads((folder / f"model_{mid}.json").read_text(encoding="utf-8")))
        for mid in MODELS
    }
    return {
        "source": (
            "SunSpec Alliance information models, official JSON definitions (github.com/sunspec/models, "
            f"json/model_<id>.json) as shipped in pysunspec2 {version} (sunspec2/models/json). "
            "Point order, names, types, sizes, units, access and scale-factor names are copied "
            "verbatim; descriptions, labels and symbols are omitted."
        ),
        "licence": "Apache-2.0 (SunSpec Alliance); see github.com/sunspec/models/blob/master/LICENSE",
        "generator": "scripts/update_sunspec_models.py (do not edit by hand)",
        "models": models,
    }


def render(data: dict[str, Any]) -> str:
    """Stable, diff-friendly JSON: one point per line."""

    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = ["{"]
    for key in ("source", "licence", "generator"):
        lines.append(f"  {one(key)}: {one(data[key])},")
    lines.append('  "models": {')
    items = list(data["models"].items())
    for i, (mid, model) in enumerate(items):
        lines.append(f"    {one(mid)}: {{")
        lines.append(f'      "name": {one(model["name"])},')
        points = ",\n".join(f"        {one(p)}" for p in model["points"])
        groups = model.get("groups", [])
        lines.append('      "points": [\n' + points + "\n      ]" + ("," if groups else ""))
        if groups:
            rendered = []
            for g in groups:
                head = {k: v for k, v in g.items() if k != "points"}
                gpoints = ",\n".join(f"          {one(p)}" for p in g["points"])
                rendered.append(f"        {one(head)[:-1]}, " + '"points": [\n' + gpoints + "\n        ]}")
            lines.append('      "groups": [\n' + ",\n".join(rendered) + "\n      ]")
        lines.append("    }" + ("," if i < len(items) - 1 else ""))
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped file differs")
    args = parser.parse_args(argv)
    text = render(build())
    assert json.loads(text) == build()
    if args.check:
        current = TARGET.read_text(encoding="utf-8")
        if current != text:
            print(f"{TARGET} is stale: run scripts/update_sunspec_models.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} ({len(MODELS)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
