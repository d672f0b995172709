"""Signed links to an image's bytes, for tools that cannot sign in (Label Studio loading a task's
image in the browser): `?expires=<unix seconds>&signature=<HMAC>` on the image's content URL.

The HMAC-SHA256 covers the image id and the expiry, with a key derived from the server's secret
key for this one purpose, so a link opens one image until it expires and cannot be turned into
anything else (a token, another image, a later expiry). Rotating the secret key revokes every link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime

PURPOSE = b"labelbay signed image content link v1"


class BadSignature(Exception):
    """The link was altered, signed with another key, or has expired (the message says which)."""


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def sign(image_id: uuid.UUID, *, expires: int, secret: str) -> str:
    """The link's signature: URL-safe base64 of the HMAC over the image id and the expiry."""
    message = f"{image_id}\n{expires}".encode()
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def expiry(lifetime_s: int, *, now: float | None = None) -> int:
    """The unix time a link made now for `lifetime_s` seconds stops working."""
    return int(time.time() if now is None else now) + lifetime_s


def signed_query(image_id: uuid.UUID, *, expires: int, secret: str) -> str:
    """The query string that opens the image's content until `expires`."""
    return f"expires={expires}&signature={sign(image_id, expires=expires, secret=secret)}"


def verify(
    image_id: uuid.UUID, *, expires: int, signature: str, secret: str, now: float | None = None
) -> None:
    """Nothing if the link is good; `BadSignature` saying why not. The signature is checked first,
    so a link whose expiry was moved reads as altered, not as expired."""
    wanted = sign(image_id, expires=expires, secret=secret)
    if not hmac.compare_digest(signature.encode(), wanted.encode()):
        raise BadSignature(
            "the link's signature does not match: it was altered or made by another server"
        )
    if (time.time() if now is None else now) >= expires:
        when = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        raise BadSignature(f"the link expired at {when}; export again for fresh links")
