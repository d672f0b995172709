"""Users, logins and personal API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelbay.db.models import ApiKey, User
from labelbay.errors import Conflict, Invalid, NotFound
from labelbay.security.passwords import dummy_hash, hash_password, verify_password
from labelbay.security.tokens import hash_api_key, new_api_key


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320 or " " in email:
        raise Invalid(f"not an e-mail address: {email!r}")
    return email


def create_user(
    session: Session, *, email: str, password: str, is_admin: bool = False, display_name: str = ""
) -> User:
    email = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    user = User(
        email=email, password_hash=password_hash, is_admin=is_admin, display_name=display_name
    )
    session.add(user)
    session.flush()
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """The active user with these credentials, else None (same work either way, against timing)."""
    user = get_user_by_email(session, email=email)
    if user is None:
        verify_password(dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or not user.is_active:
        return None
    return user


def create_api_key(
    session: Session, *, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiKey, str]:
    """A new key row and the key itself; the key is shown once and only its hash is kept."""
    key = new_api_key()
    expires_at = (
        datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days is not None else None
    )
    row = ApiKey(
        user_id=user.id,
        name=name,
        prefix=key[:12],
        key_hash=hash_api_key(key),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, key


def list_api_keys(session: Session, *, user: User) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt.order_by(ApiKey.id)))


def revoke_api_key(session: Session, *, user: User, key_id: int) -> None:
    row = session.get(ApiKey, key_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound("API key not found")
    row.revoked_at = datetime.now(UTC)


def user_for_api_key(session: Session, *, key: str) -> User | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    row.last_used_at = now
    return row.user if row.user.is_active else None
