"""Failed logins per client address: counted in a sliding window, answered 429 beyond a limit.

Only requests that present a token count (a missing token is no guess). A valid token is never
refused, whatever its address's count: a client sharing an address with a misbehaving one (the
same host, a NAT, a reverse proxy) must not be locked out of its battery. A success resets no
counter. Addresses are kept least-recently-failed first, at most ``max_clients`` of them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Client:
    times: deque[float]
    refused: bool = False  # the current run of refusals was logged


@dataclass(frozen=True, slots=True)
class Verdict:
    retry_after: float | None  # seconds (Retry-After) when refused, None for a plain 401
    first_refusal: bool = False  # the first refusal of a run: worth one log line


class LoginLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def failed(self, client: str) -> Verdict:
        """Record a failed login from ``client``: refused (with the seconds to wait) once it has
        failed more than ``max_failures`` times within ``window_s``."""
        now = self._clock()
        entry = self._clients.pop(client, None) or _Client(deque(maxlen=self.max_failures + 1))
        times = entry.times
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        self._clients[client] = entry  # most recent last
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        if len(times) <= self.max_failures:
            entry.refused = False
            return Verdict(None)
        # until enough of them have aged out that the next failure is a plain 401 again
        frees_at = times[len(times) - self.max_failures] + self.window_s
        first, entry.refused = not entry.refused, True
        return Verdict(float(max(1, math.ceil(frees_at - now))), first)

    def __len__(self) -> int:
        return len(self._clients)
