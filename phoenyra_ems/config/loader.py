"""Load a YAML file into a validated ``EmsConfig``; every problem becomes a ``ConfigIssue``."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import voluptuous as vol

from phoenyra_ems.config.model import EmsConfig, SiteConfig
from phoenyra_ems.config.schema import validate_config
from phoenyra_ems.config.yaml_loader import (
    MAX_FILE_BYTES,
    ConfigError,
    ConfigIssue,
    format_path,
    load_yaml,
    too_large,
)


def load_config(path: str | os.PathLike[str]) -> EmsConfig:
    """Read and validate ``path``; ``!secret`` looks in ``secrets.yaml`` beside it."""
    file = Path(path)
    source = str(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more, whatever the file's size
            if len(data) > MAX_FILE_BYTES:
                size = os.fstat(handle.fileno()).st_size
                raise ConfigError([too_large(f"{size:,} bytes", source)])
        text = data.decode("utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue("", None, f"cannot read file: {exc.strerror}", source)]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue("", None, f"file is not UTF-8 text: {exc.reason}", source)]) from None
    return load_config_text(text, source=source, secrets_dir=file.parent)


async def load_config_async(path: str | os.PathLike[str]) -> EmsConfig:
    """:func:`load_config` in a worker thread, so parsing never stalls the event loop."""
    import asyncio  # here: the decision core imports this module and must not load asyncio

    return await asyncio.to_thread(load_config, path)


def load_config_text(
    text: str, source: str = "<string>", secrets_dir: str | os.PathLike[str] | None = None
) -> EmsConfig:
    """Validate YAML ``text``; ``source`` names it in error messages and ``EmsConfig.source``."""
    doc = load_yaml(text, source, None if secrets_dir is None else Path(secrets_dir))
    try:
        config = validate_config(doc.data)
    except vol.Invalid as exc:
        errors = exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc]
        issues = [
            ConfigIssue(format_path(err.path), doc.line_of(err.path), err.msg, source) for err in errors
        ]
        issues.sort(key=lambda issue: (issue.line or 0, issue.path))
        raise ConfigError(issues) from None
    return dataclasses.replace(config, source=source)


def load_config_or_report(path: str) -> EmsConfig | None:
    """:func:`load_config` for a command line: every problem printed on stderr, None if any."""
    try:
        return load_config(path)
    except ConfigError as err:
        for issue in err.issues:
            print(issue, file=sys.stderr)
    except OSError as err:
        print(f"{path}: {err.strerror}", file=sys.stderr)
    return None


def load_site(path: str, site_id: str | None) -> SiteConfig | None:
    """One site of a configuration file (its default site without ``site_id``); errors on stderr."""
    config = load_config_or_report(path)
    if config is None:
        return None
    chosen = site_id or config.default_site_id
    if chosen not in config.sites:
        print(f"{path}: no site {chosen!r} (sites: {', '.join(config.sites)})", file=sys.stderr)
        return None
    return config.sites[chosen]
