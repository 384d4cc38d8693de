"""Coalescing of high-rate updates: redraw the latest state at most ``max_hz`` times a second.

The store's version moves on every WebSocket push; the UI asks :meth:`RenderThrottle.due` on a
fast timer and draws only when the version moved and the last draw is old enough. The first change
after a quiet period draws at once (leading edge), later ones wait for the next slot; the latest
state always wins, nothing queues up.
"""

from __future__ import annotations

import math


class RenderThrottle:
    def __init__(self, max_hz: float = 4.0) -> None:
        if max_hz <= 0:
            raise ValueError("max_hz must be > 0")
        self.min_interval_s = 1.0 / max_hz
        self.rendered_version = -1
        self.last_render = -math.inf
        self.renders = 0

    def due(self, version: int, now: float) -> bool:
        return version != self.rendered_version and now - self.last_render >= self.min_interval_s

    def mark(self, version: int, now: float) -> None:
        self.rendered_version = version
        self.last_render = now
        self.renders += 1

    def invalidate(self) -> None:
        """Draw at the next tick whatever the rate (a new screen was shown)."""
        self.rendered_version = -1
        self.last_render = -math.inf
