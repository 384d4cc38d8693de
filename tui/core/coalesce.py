"""Coalescing of high-rate updates: redraw the latest state at most ``max_hz`` times a second.

The store's version moves on every WebSocket push; the UI asks :meth:`RenderThrottle.due` on a
fast timer and draws only when the version moved and the last draw is old enough. The first change
after a quiet period draws at once (leading edge), later ones wait for the next slot; the latest
state always wins, nothing queues up. Without any change the screen is still redrawn every
``idle_s`` so that ages ("update 12 s ago") keep moving while the daemon is silent.
"""

from __future__ import annotations

import math


class RenderThrottle:
    def __init__(self, max_hz: float = 4.0, idle_s: float = 1.0) -> None:
        if max_hz <= 0:
            raise ValueError("max_hz must be > 0")
        self.min_interval_s = 1.0 / max_hz
        self.idle_s = max(idle_s, self.min_interval_s)
        self.rendered_version = -1
        self.last_render = -math.inf
        self.renders = 0

    def due(self, version: int, now: float) -> bool:
        since = now - self.last_render
        return since >= self.idle_s or (version != self.rendered_version and since >= self.min_interval_s)

    def mark(self, version: int, now: float) -> None:
        self.rendered_version = version
        self.last_render = now
        self.renders += 1

    def invalidate(self) -> None:
        """Draw at the next tick whatever the rate (a new screen was shown)."""
        self.rendered_version = -1
        self.last_render = -math.inf
