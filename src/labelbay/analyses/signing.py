"""HMAC-SHA256 request signatures for pipeline callbacks, with a timestamp window and replay guard.

The signed bytes are `f"{timestamp}.{METHOD}.{path}."` followed by the raw request body; the
signature is the lowercase hex digest, keyed with `ML_CALLBACK_HMAC_SECRET`. This is the old Image
Project Manager's contract, kept byte for byte so existing pipelines work unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelbay.db.models import SignatureNonce

SIGNATURE_HEADER = "X-ML-Signature"
TIMESTAMP_HEADER = "X-ML-Timestamp"


class SignatureError(Exception):
    """The request is not an authentic, fresh pipeline request; the message says why."""


class ReplayedSignature(SignatureError):
    """The signature was already accepted once."""


def signed_message(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    return f"{timestamp}.{method.upper()}.{path}.".encode() + body


def sign(secret: str, *, timestamp: int | str, method: str, path: str, body: bytes) -> str:
    """The `X-ML-Signature` value for a request (what a pipeline computes)."""
    message = signed_message(str(timestamp), method, path, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class ReplayGuard(Protocol):
    """Remembers accepted signatures for at least the signature window."""

    def claim(self, signature: str, *, now: datetime, window: timedelta) -> bool:
        """True the first time `signature` is claimed within the window, False after."""
        ...


class SqlReplayGuard:
    """Replay protection in the `ml_signature_nonces` table, shared by every API replica.

    The row joins the request's transaction: if the request fails and rolls back, its signature may
    be sent again (it changed nothing); two identical requests at once collide on the primary key.
    A refused claim leaves the session failed, so the caller must refuse the request (it does).
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    def claim(self, signature: str, *, now: datetime, window: timedelta) -> bool:
        session = self._session
        # Twice the window: a timestamp may be up to one window in the future as well as the past.
        session.execute(delete(SignatureNonce).where(SignatureNonce.created_at < now - 2 * window))
        session.add(SignatureNonce(signature=signature, created_at=now))
        try:
            session.flush()
        except IntegrityError:
            return False
        return True


class MemoryReplayGuard:
    """Replay protection in this process's memory: enough for one embedded process, and tests."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, signature: str, *, now: datetime, window: timedelta) -> bool:
        with self._lock:
            horizon = now - 2 * window
            self._seen = {sig: at for sig, at in self._seen.items() if at >= horizon}
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True


def verify(
    *,
    secret: str,
    signature: str | None,
    timestamp: str | None,
    method: str,
    path: str,
    body: bytes,
    window: timedelta,
    guard: ReplayGuard,
    now: datetime | None = None,
) -> None:
    """Raise `SignatureError` unless the request is signed with `secret`, fresh and not a replay."""
    if not signature or not timestamp:
        raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds")
    now = now or datetime.now(UTC)
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - sent) > window:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is outside the allowed window of "
            f"{int(window.total_seconds())} s (check the pipeline's clock)"
        )
    expected = sign(secret, timestamp=timestamp, method=method, path=path, body=body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the request")
    if not guard.claim(expected, now=now, window=window):
        raise ReplayedSignature("this signed request was already received (replay refused)")
