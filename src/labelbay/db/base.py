"""Declarative base with a naming convention, so Alembic names constraints alike everywhere."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


_uuid7_lock = threading.Lock()
_uuid7_last = [0, 0]  # last millisecond, counter within it


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (version 7): keyset pagination on it walks images in upload order.

    Within one millisecond the 12-bit `rand_a` field is a counter, so ids made by one process
    stay strictly increasing (RFC 9562, method 1); across processes the order within a
    millisecond is arbitrary.
    """
    with _uuid7_lock:
        millis = time.time_ns() // 1_000_000
        last_ms, counter = _uuid7_last
        if millis <= last_ms:
            millis, counter = last_ms, counter + 1
            if counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                millis, counter = millis + 1, 0
        else:
            counter = 0
        _uuid7_last[:] = [millis, counter]
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64  # rand_a used as a counter
    value |= 0b10 << 62  # variant
    value |= rand_b
    return uuid.UUID(int=value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
