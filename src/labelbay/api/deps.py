"""FastAPI dependencies as `Annotated` aliases: the context, a DB session, the current user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from labelbay.api.context import AppContext
from labelbay.api.middleware import USER_LIMITED
from labelbay.db.models import User
from labelbay.security.signed_urls import BadSignature, verify
from labelbay.security.tokens import InvalidToken, decode_access_token, looks_like_api_key
from labelbay.services.users import user_for_api_key

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back if it raises.

    A route may commit earlier itself (before deleting objects, or before a long upload).
    """
    with context.sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


# scope="function": the commit happens before the response is sent, so a client that sees 201 can
# immediately read what it wrote.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not signed in: send 'Authorization: Bearer <token or API key>'",
    headers={"WWW-Authenticate": "Bearer"},
)


def get_current_user(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> User:
    credential = bearer or api_key
    if not credential:
        raise UNAUTHORIZED
    settings = context.settings
    user: User | None
    if looks_like_api_key(credential):
        user = user_for_api_key(session, key=credential)
    else:
        try:
            user_id = decode_access_token(
                credential,
                secret=settings.secret_key.get_secret_value(),
                algorithm=settings.jwt_algorithm,
            )
        except InvalidToken as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from exc
        user = session.get(User, user_id)
        if user is not None and not user.is_active:
            user = None
    if user is None:
        raise UNAUTHORIZED
    if context.limiter is not None:
        verdict = context.limiter.hit("user", str(user.id))
        if not verdict.allowed:
            request.scope.setdefault("state", {})[USER_LIMITED] = True
            context.metrics.rate_limited.labels("user").inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many requests for this user; slow down",
                headers={"Retry-After": str(verdict.retry_after_s)},
            )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]

# What a cross-origin page may read of an answer to a signed link (and nothing else of the API).
OPEN_TO_ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}


def get_reader_or_signed_link(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_header)],
    image_id: uuid.UUID,
    expires: Annotated[int | None, Query(description="a signed link's expiry (unix time)")] = None,
    signature: Annotated[
        str | None, Query(max_length=100, description="a signed link's HMAC")
    ] = None,
) -> User | None:
    """The signed-in user, or None for a good signed link to this image (`expires` and
    `signature`, as exports write them): such a link needs no credential. A bad, altered or
    expired link is a 403 that says why, readable by the page that followed it."""
    if expires is None and signature is None:
        return get_current_user(request, context, session, bearer, api_key)
    if expires is None or signature is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "a signed link needs both `expires` and `signature`",
            headers=OPEN_TO_ANY_ORIGIN,
        )
    try:
        verify(
            image_id,
            expires=expires,
            signature=signature,
            secret=context.settings.secret_key.get_secret_value(),
        )
    except BadSignature as exc:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, str(exc), headers=OPEN_TO_ANY_ORIGIN
        ) from exc
    return None


ImageReader = Annotated[User | None, Depends(get_reader_or_signed_link)]


def require_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an administrator")
    return user


AdminUser = Annotated[User, Depends(require_admin)]


def token_lifetime(context: AppContext) -> timedelta:
    return timedelta(minutes=context.settings.jwt_expire_minutes)
