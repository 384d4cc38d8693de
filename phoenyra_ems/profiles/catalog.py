"""Which device profiles exist. No I/O library imported: config validation uses this."""

from __future__ import annotations

from pathlib import Path

PROFILE_DIR = Path(__file__).parent  # phoenyra_ems/profiles/*.yaml


def known_profiles() -> list[str]:
    """Names of every shipped profile (a profile is one YAML file in ``phoenyra_ems/profiles/``)."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def profile_path(name: str) -> Path:
    return PROFILE_DIR / f"{name}.yaml"
