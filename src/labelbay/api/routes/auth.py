"""Sign-in, the current user and personal API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from labelbay.api.deps import AdminUser, ContextDep, CurrentUser, SessionDep, token_lifetime
from labelbay.api.openapi import ErrorOut
from labelbay.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, Token, UserCreate, UserOut
from labelbay.security.tokens import create_access_token
from labelbay.services import users

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/token",
    responses={
        401: {"model": ErrorOut, "description": "Wrong e-mail or password"},
        429: {"model": ErrorOut, "description": "Too many failed sign-ins for this account"},
    },
)
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], context: ContextDep, session: SessionDep
) -> Token:
    """Exchange an e-mail (`username`) and password for a bearer token (OAuth2 password flow).

    Wrong passwords for one account are limited (`LABELBAY_RATE_LIMIT_LOGIN_PER_ACCOUNT`), from
    whatever addresses they come: past the limit the answer is 429 until the window moves on."""
    limiter = context.limiter
    account = form.username.strip().lower()
    if limiter is not None and not (verdict := limiter.check("login", account)).allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed sign-ins for this account; try again later",
            headers={"Retry-After": str(verdict.retry_after_s)},
        )
    user = users.authenticate(session, email=form.username, password=form.password)
    if user is None:
        if limiter is not None:
            limiter.hit("login", account)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong e-mail or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    lifetime = token_lifetime(context)
    settings = context.settings
    token = create_access_token(
        user_id=user.id,
        secret=settings.secret_key.get_secret_value(),
        algorithm=settings.jwt_algorithm,
        expires_in=lifetime,
    )
    return Token(access_token=token, expires_in=int(lifetime.total_seconds()))


@router.get("/users/me")
def me(user: CurrentUser) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(user)


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, _admin: AdminUser, session: SessionDep) -> UserOut:
    """Create a user (administrators only)."""
    user = users.create_user(
        session,
        email=body.email,
        password=body.password,
        is_admin=body.is_admin,
        display_name=body.display_name,
    )
    return UserOut.model_validate(user)


@router.post("/users/me/api-keys", status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, user: CurrentUser, session: SessionDep) -> ApiKeyCreated:
    """Create a personal API key for programs. The key is in this answer only; keep it safe."""
    row, key = users.create_api_key(
        session, user=user, name=body.name, expires_in_days=body.expires_in_days
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)


@router.get("/users/me/api-keys")
def list_api_keys(user: CurrentUser, session: SessionDep) -> list[ApiKeyOut]:
    """The signed-in user's active API keys (without the keys themselves)."""
    return [ApiKeyOut.model_validate(row) for row in users.list_api_keys(session, user=user)]


@router.delete("/users/me/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: int, user: CurrentUser, session: SessionDep) -> None:
    """Revoke one of the signed-in user's API keys."""
    users.revoke_api_key(session, user=user, key_id=key_id)
