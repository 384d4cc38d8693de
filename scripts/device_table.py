"""Regenerate the supported-devices tables of docs/device-profiles.md from the profile YAML files.

python scripts/device_table.py          # rewrite the doc
python scripts/device_table.py --check  # exit 1 if the doc is not current
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from phoenyra_ems.devices.doc_table import render_into

DOC = Path(__file__).resolve().parents[1] / "docs" / "device-profiles.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only check that the doc is current")
    args = parser.parse_args(argv)
    old = DOC.read_text(encoding="utf-8")
    new = render_into(old)
    if args.check:
        if new != old:
            print(f"{DOC}: the supported-devices tables are out of date; run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    if new != old:
        DOC.write_text(new, encoding="utf-8")
        print(f"{DOC}: updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
