"""The signing of image links (`security/signed_urls.py`), without a server."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest

from labelbay.security.signed_urls import BadSignature, expiry, sign, signed_query, verify

SECRET = "s" * 32
IMAGE = uuid.UUID("0190f5c4-0000-7000-8000-000000000001")
OTHER = uuid.UUID("0190f5c4-0000-7000-8000-000000000002")
NOW = 1_800_000_000


def test_a_link_verifies_until_it_expires() -> None:
    expires = expiry(600, now=NOW)
    assert expires == NOW + 600
    signature = sign(IMAGE, expires=expires, secret=SECRET)
    assert signed_query(IMAGE, expires=expires, secret=SECRET) == (
        f"expires={expires}&signature={signature}"
    )
    verify(IMAGE, expires=expires, signature=signature, secret=SECRET, now=NOW)
    verify(IMAGE, expires=expires, signature=signature, secret=SECRET, now=expires - 1)
    with pytest.raises(BadSignature, match="expired at 2027-01-15T08:10:00"):
        verify(IMAGE, expires=expires, signature=signature, secret=SECRET, now=expires)


@pytest.mark.parametrize(
    ("image", "expires", "secret"),
    [
        (OTHER, NOW + 600, SECRET),  # another image
        (IMAGE, NOW + 601, SECRET),  # a later expiry
        (IMAGE, NOW + 600, "t" * 32),  # another server's key
    ],
)
def test_any_change_breaks_the_signature(image: uuid.UUID, expires: int, secret: str) -> None:
    signature = sign(IMAGE, expires=NOW + 600, secret=SECRET)
    with pytest.raises(BadSignature, match="does not match"):
        verify(image, expires=expires, signature=signature, secret=secret, now=NOW)


def test_the_key_is_not_the_secret_itself() -> None:
    """A link's HMAC uses a key derived for links only, so it is no HMAC of the bare secret."""
    bare = hmac.new(SECRET.encode(), f"{IMAGE}\n{NOW}".encode(), hashlib.sha256).hexdigest()
    assert sign(IMAGE, expires=NOW, secret=SECRET) != bare
    assert len(sign(IMAGE, expires=NOW, secret=SECRET)) == 43  # 32 bytes, URL-safe, no padding
