"""Helpers the benchmark scripts share (run them as ``python bench/<name>.py``)."""

from __future__ import annotations

import socket
from collections.abc import Callable


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def print_decay_sweep(
    name: str, decays: list[float], errors: Callable[[float], tuple[float, float]], base_label: str
) -> None:
    """One markdown row per decay: its two errors and their change against the first decay's
    (decay 0, printed as ``base_label``)."""
    base: tuple[float, float] | None = None
    for decay in decays:
        first, second = errors(decay)
        base = base or (first, second)
        label = base_label if decay == 0 else f"{decay:g}"
        print(
            f"| {name} | {label} | {first:.4f} | {100 * (1 - first / base[0]):+.1f} % "
            f"| {second:.4f} | {100 * (1 - second / base[1]):+.1f} % |",
            flush=True,
        )
