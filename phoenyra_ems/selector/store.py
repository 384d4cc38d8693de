"""A site's selector model next to its history database, replaced atomically, private to the owner."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from phoenyra_ems.atomic import write_atomically
from phoenyra_ems.selector.training import LabelStore, StoredSelector

LOGGER = logging.getLogger("phoenyra_ems.selector")


class SelectorFileError(Exception):
    """The model file cannot be read (corrupt, truncated, from an incompatible version)."""


def selector_path(history_dir: str | Path, site_id: str) -> Path:
    return Path(history_dir) / f"selector_site_{site_id}.pkl"


def labels_path(history_dir: str | Path, site_id: str) -> Path:
    return Path(history_dir) / f"selector_site_{site_id}_labels.pkl"


def save(path: Path, stored: StoredSelector | LabelStore) -> None:
    """Write to a temporary file in the same directory, then rename over the old one."""
    write_atomically(path, lambda out: pickle.dump(stored, out, protocol=pickle.HIGHEST_PROTOCOL), 0o600)


def load(path: Path) -> StoredSelector:
    """The stored selector; :class:`SelectorFileError` naming the file when it cannot be used."""
    try:
        with path.open("rb") as handle:
            stored = pickle.load(handle)  # our own file, written by save() (0600)
    except FileNotFoundError:
        raise
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        raise SelectorFileError(f"{path}: not a usable selector model ({reason})") from None
    if not isinstance(stored, StoredSelector):
        raise SelectorFileError(f"{path}: not a selector model (holds {type(stored).__name__})")
    return stored


def save_labels(path: Path, store: LabelStore) -> None:
    save(path, store)


def load_labels(path: Path) -> LabelStore | None:
    """The site's stored labels; None (all windows are labelled again) when there are none or the
    file cannot be used (a warning names it)."""
    try:
        with path.open("rb") as handle:
            store = pickle.load(handle)  # our own file, written by save() (0600)
    except FileNotFoundError:
        return None
    except Exception as err:
        reason = f"{type(err).__name__}: {err}"
        LOGGER.warning("%s: not a usable label store (%s): labelling again", path, reason)
        return None
    if not isinstance(store, LabelStore):
        LOGGER.warning("%s: not a label store (holds %s): labelling again", path, type(store).__name__)
        return None
    return store
