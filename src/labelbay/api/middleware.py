"""ASGI middleware: request ids, access logs, metrics and the per-IP rate limit.

Written as plain ASGI (not BaseHTTPMiddleware) so streamed request bodies pass through untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelbay.api.context import AppContext
from labelbay.api.errors import error_body
from labelbay.logs import request_id_var

access_log = logging.getLogger("labelbay.access")

# Probes and scrapes are not counted against a client's rate limit.
UNLIMITED_PATHS = frozenset({"/health", "/ready", "/metrics"})
# Set in the request's state by the per-user limit when it refuses a request.
USER_LIMITED = "user_rate_limited"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, context: AppContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 100 else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_code = 500
        client = (scope.get("client") or ("unknown", 0))[0]

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        state = scope.setdefault("state", {})
        try:
            limiter = self.context.limiter
            limited = limiter is not None and scope["path"] not in UNLIMITED_PATHS
            # A request with a credential is counted once answered, unless its user's own limit
            # refused it: that costs the user, not the address, so other users behind the same
            # address (a NAT, an office proxy) keep their budget. One without is counted at once.
            deferred = b"authorization" in headers or b"x-api-key" in headers
            if limiter is not None and limited:
                verdict = limiter.check("ip", client) if deferred else limiter.hit("ip", client)
                if not verdict.allowed:
                    self.context.metrics.rate_limited.labels("ip").inc()
                    await _too_many(scope["path"], send_with_id, verdict.retry_after_s)
                    return
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if limiter is not None and limited and deferred and not state.get(USER_LIMITED):
                    limiter.hit("ip", client)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics = self.context.metrics
            metrics.requests.labels(scope["method"], route, str(status_code)).inc()
            metrics.latency.labels(scope["method"], route).observe(elapsed)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status_code,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client,
                },
            )
            request_id_var.reset(token)


async def _too_many(path: str, send: Send, retry_after: int) -> None:
    message = "too many requests from this address; slow down"
    body = json.dumps(error_body(path, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(retry_after).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
