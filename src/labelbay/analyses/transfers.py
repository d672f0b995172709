"""Signed, expiring transfer tokens: presigned URLs for a local artifacts folder.

S3 signs its own URLs. A local folder cannot, so labelbay signs a token with its secret key that
names one key, one method and (for uploads) the largest size accepted, and serves
`/api/analysis-files/{token}` itself. Like an S3 presigned URL, the token is the whole credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

TransferMethod = Literal["GET", "PUT"]
_TYPE = "ml-artifact"
_ALGORITHM = "HS256"


class InvalidTransfer(Exception):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True)
class Transfer:
    key: str
    method: TransferMethod
    max_bytes: int | None
    content_type: str | None


def transfer_token(
    *,
    secret: str,
    key: str,
    method: TransferMethod,
    expires_in: timedelta,
    max_bytes: int | None = None,
    content_type: str | None = None,
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "typ": _TYPE,
        "key": key,
        "m": method,
        "iat": issued,
        "exp": issued + expires_in,
    }
    if max_bytes is not None:
        claims["max"] = max_bytes
    if content_type is not None:
        claims["ct"] = content_type
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_transfer_token(token: str, *, secret: str, method: TransferMethod) -> Transfer:
    """What a valid token grants, if it grants `method`; `InvalidTransfer` otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "key", "m"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidTransfer("this link has expired; ask for a new one") from exc
    except jwt.PyJWTError as exc:
        raise InvalidTransfer("this link is not valid") from exc
    if claims.get("typ") != _TYPE or claims.get("m") != method:
        raise InvalidTransfer(f"this link does not allow {method}")
    key, max_bytes, content_type = claims["key"], claims.get("max"), claims.get("ct")
    if not isinstance(key, str) or not isinstance(max_bytes, int | None):
        raise InvalidTransfer("this link is not valid")
    return Transfer(
        key=key,
        method=method,
        max_bytes=max_bytes,
        content_type=content_type if isinstance(content_type, str) else None,
    )
