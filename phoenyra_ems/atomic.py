"""Files that are either the old version or the new one, never half of either: ``write_atomically``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], object], mode: int | None = None) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, sync it, rename it over ``path``.

    On any failure (a full disk: ``OSError`` ENOSPC) the temporary file is removed, ``path`` keeps
    its previous content and the error propagates. ``mode``: the file's permissions (e.g. 0o600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
