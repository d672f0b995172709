"""Request-body limits applied to every request before routing and authentication.

- Size: a declared `Content-Length` over the limit is answered 413 without reading a byte; a body
  without one (chunked) is counted as it arrives and cut at the limit. The limit depends on what
  the body is: parsed bodies (JSON, forms) get `max_json_body_bytes`, the signed analyses API its
  own `ml_max_request_bytes`, multipart uploads and the routes that stream their body to disk
  (KServe inference, artifact transfers, which check their own limits as they read)
  `max_upload_request_bytes`.
- Time: the client must keep sending. The body may take `body_timeout_s`, plus one second per
  `body_min_rate_bytes_per_s` bytes received; only time spent waiting for the client counts, not the
  time the server spends on what it already has. A slower body is answered 408.

Written as plain ASGI so streamed bodies pass through untouched.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelbay.api.errors import error_body
from labelbay.config import Settings

# Routes that stream their body themselves, each within its own, smaller limit.
STREAMED_PREFIXES = ("/v2/", "/analysis-files/")
# The analyses API of external pipelines (HMAC-signed), under /api/ but not /api/v1/.
ANALYSES_PREFIX = "/api/"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE, f"request body is over the limit of {limit} bytes"
        )


class BodyTooSlow(HTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_408_REQUEST_TIMEOUT, "request body arrived too slowly")


def body_limit(scope: Scope, settings: Settings) -> int:
    """The most bytes a body sent to this path with this content type may have."""
    path: str = scope["path"]
    content_type = _header(scope, b"content-type").lower()
    if content_type.startswith("multipart/form-data") or path.startswith(STREAMED_PREFIXES):
        return settings.max_upload_request_bytes
    if path.startswith(ANALYSES_PREFIX) and not path.startswith("/api/v1/"):
        return settings.ml_max_request_bytes
    return settings.max_json_body_bytes


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        limit = body_limit(scope, settings)
        declared = _header(scope, b"content-length")
        if declared and (not declared.isdigit() or int(declared) > limit):
            await _answer(scope, send, BodyTooLarge(limit))
            return
        received = 0
        waited = 0.0
        more_body = True

        async def limited_receive() -> Message:
            nonlocal received, waited, more_body
            if not more_body:
                return await receive()  # http.disconnect: waiting for it costs the client nothing
            allowance = (
                settings.body_timeout_s + received / settings.body_min_rate_bytes_per_s - waited
            )
            started = time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(allowance, 0.001))
            except TimeoutError:
                raise BodyTooSlow() from None
            finally:
                waited += time.monotonic() - started
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                more_body = message.get("more_body", False)
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (BodyTooLarge, BodyTooSlow) as exc:
            # Raised from a receive the route did not catch (a background read, a middleware).
            if response_started:
                raise
            await _answer(scope, send, exc)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key == name:
            return str(value.decode("latin-1")).strip()
    return ""


async def _answer(scope: Scope, send: Send, exc: HTTPException) -> None:
    body = json.dumps(error_body(scope["path"], exc.detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
