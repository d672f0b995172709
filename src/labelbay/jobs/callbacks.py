"""Signed HTTP callbacks, with retries, refusing private addresses unless allow-listed (SSRF)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature-256"


class CallbackRefused(ValueError):
    """The URL may not be called (scheme, or an address in a private range)."""


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
    """Refuse URLs that are not http(s) or that resolve to a non-public address, unless the host
    or one of its addresses is allow-listed (as a host name, an address or a network)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("callback URL must be http:// or https:// with a host")
    host = parts.hostname
    if host in allowlist:
        return
    networks = [ipaddress.ip_network(item, strict=False) for item in allowlist if _is_net(item)]
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise CallbackRefused(f"callback host {host!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if any(address in net for net in networks):
            continue
        if not address.is_global:
            raise CallbackRefused(
                f"callback host {host!r} resolves to {address}, a private or reserved address; "
                "allow-list it in LABELBAY_CALLBACK_ALLOWLIST to use it"
            )


def _is_net(item: str) -> bool:
    try:
        ipaddress.ip_network(item, strict=False)
    except ValueError:
        return False
    return True


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
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
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
