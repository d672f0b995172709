"""Rate limits per user and per client IP, on the `limits` library (memory or Redis storage)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Checks and counts hits against a per-user and a per-IP limit."""

    def __init__(self, *, per_user: str, per_ip: str, storage_url: str) -> None:
        self._per_user: RateLimitItem = parse(per_user)
        self._per_ip: RateLimitItem = parse(per_ip)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def hit(self, *, ip: str, user_key: str | None) -> Verdict:
        checks = [(self._per_ip, "ip", ip)]
        if user_key is not None:
            checks.append((self._per_user, "user", user_key))
        for item, scope, ident in checks:
            if not self._limiter.hit(item, scope, ident):
                stats = self._limiter.get_window_stats(item, scope, ident)
                return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))
        return Verdict(True)
