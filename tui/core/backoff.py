"""Reconnect delays: exponential with a cap, reset once connected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 10.0

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0-based)."""
        return float(min(self.max_s, self.initial_s * self.factor ** max(0, attempt)))
