"""Rate limits per user, per client IP and per account for sign-ins, on the `limits` library
(memory or Redis storage)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

Scope = Literal["ip", "user", "login"]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Counts a hit against the limit of one scope (`ip` or `user`) and says whether it is allowed."""

    def __init__(self, *, per_user: str, per_ip: str, per_login: str, storage_url: str) -> None:
        self._items: dict[Scope, RateLimitItem] = {
            "user": parse(per_user),
            "ip": parse(per_ip),
            "login": parse(per_login),
        }
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def check(self, scope: Scope, ident: str) -> Verdict:
        """Whether one more hit would be allowed, without counting one."""
        item = self._items[scope]
        if self._limiter.test(item, scope, ident):
            return Verdict(True)
        return self._refused(item, scope, ident)

    def hit(self, scope: Scope, ident: str) -> Verdict:
        item = self._items[scope]
        if self._limiter.hit(item, scope, ident):
            return Verdict(True)
        return self._refused(item, scope, ident)

    def _refused(self, item: RateLimitItem, scope: Scope, ident: str) -> Verdict:
        stats = self._limiter.get_window_stats(item, scope, ident)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))
