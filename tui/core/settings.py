"""Command line, environment and configuration file → the console's settings.

URL: ``--url``, else ``PHOENYRA_URL``, else ``--config FILE`` (its ``api.host``/``api.port``, https
when the API has a certificate), else ``http://127.0.0.1:8080``. Token: ``--token``, else
``PHOENYRA_TOKEN``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tui.core.keymap import Keymap, KeymapError, load_keymap

DEFAULT_URL = "http://127.0.0.1:8080"
THEMES = {"dark": "textual-dark", "light": "textual-light"}


class SettingsError(ValueError):
    """Bad command line, configuration or keymap: print it and exit with code 2."""


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    theme: str  # "dark" or "light"
    keymap: Keymap
    max_render_hz: float = 4.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phoenyra-tui", description="Phoenyra EMS technician's console (talks to the daemon's API)."
    )
    parser.add_argument("--url", help="daemon URL, e.g. http://127.0.0.1:8080 (env PHOENYRA_URL)")
    parser.add_argument("--token", help="API token (env PHOENYRA_TOKEN)")
    parser.add_argument("--config", metavar="FILE", help="daemon configuration file: use its api.host/port")
    parser.add_argument("--keymap", metavar="FILE", help="key bindings to override (TOML or JSON)")
    parser.add_argument("--theme", choices=sorted(THEMES), default="dark", help="colour theme (default dark)")
    return parser


def url_from_config(path: str) -> str:
    from phoenyra_ems.config import ConfigError, load_config  # the light part: yaml + voluptuous

    try:
        config = load_config(path)
    except ConfigError as err:
        issues = "; ".join(str(issue) for issue in err.issues)
        raise SettingsError(f"--config {path}: {issues}") from None
    host = config.api.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.api.tls_cert else "http"
    return f"{scheme}://{host}:{config.api.port}"


def resolve_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    args = build_parser().parse_args(argv)
    if args.url:
        url = args.url
    elif environ.get("PHOENYRA_URL"):
        url = environ["PHOENYRA_URL"]
    elif args.config:
        url = url_from_config(args.config)
    else:
        url = DEFAULT_URL
    if "://" not in url:
        url = f"http://{url}"
    token = args.token or environ.get("PHOENYRA_TOKEN", "")
    if not token:
        raise SettingsError("no API token: pass --token or set PHOENYRA_TOKEN (phoenyra-ems user token NAME)")
    try:
        keymap = load_keymap(args.keymap) if args.keymap else Keymap()
    except KeymapError as err:
        raise SettingsError(f"--keymap {err}") from None
    return Settings(url=url.rstrip("/"), token=token, theme=args.theme, keymap=keymap)
