"""Signed HTTP callbacks, with retries, refusing private addresses unless allow-listed (SSRF)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from labelbay.outbound import OutboundGuard, OutboundRefused

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature-256"


# One guard for every outbound URL (see outbound.py); the old names stay for callers.
CallbackRefused = OutboundRefused


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    error: str | None = None
    status_code: int | None = None


def sign(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`, as GitHub-style webhooks sign."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    return hmac.compare_digest(sign(body, secret), header)


def check_url(url: str, *, allowlist: Sequence[str]) -> None:
    """Refuse a callback URL the outbound guard refuses (scheme, private or reserved address)."""
    OutboundGuard.of(allowlist).check(url)


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str,
    allowlist: Sequence[str],
    timeout_s: float,
    max_attempts: int,
    backoff_s: float,
) -> Delivery:
    """POST `payload` as JSON, signed; retry on network errors and 5xx/429 with exponential
    backoff. A 4xx other than 429 is final."""
    try:
        check_url(url, allowlist=allowlist)
    except CallbackRefused as exc:
        return Delivery(False, 0, str(exc))
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
    error = "not attempted"
    status_code: int | None = None
    with OutboundGuard.of(allowlist).client(timeout=timeout_s) as client:
        for attempt in range(1, max_attempts + 1):
            try:
                answer = client.post(url, content=body, headers=headers)
                status_code = answer.status_code
                if answer.is_success:
                    return Delivery(True, attempt, None, status_code)
                error = f"HTTP {answer.status_code}"
                if answer.status_code < 500 and answer.status_code != 429:
                    return Delivery(False, attempt, error, status_code)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt < max_attempts:
                time.sleep(backoff_s * 2 ** (attempt - 1))
    log.warning("callback to %s failed after %d attempts: %s", url, max_attempts, error)
    return Delivery(False, max_attempts, error, status_code)
