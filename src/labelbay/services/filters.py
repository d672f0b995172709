"""Filters on the free-form `metadata` JSON column, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, or_

from labelbay.errors import Invalid

MAX_FILTERS = 10


def metadata_conditions(
    column: Any, filters: Mapping[str, str], *, dialect: str
) -> list[ColumnElement[bool]]:
    """One condition per `key=value`; the value matches a JSON string, number or boolean alike.

    PostgreSQL's `->>` renders every scalar as text, so comparing text is enough there (and a cast
    would fail on non-numeric values). SQLite's json_extract keeps numbers and booleans native, so
    there a numeric-looking value is compared both ways.
    """
    if len(filters) > MAX_FILTERS:
        raise Invalid(f"at most {MAX_FILTERS} metadata filters")
    conditions: list[ColumnElement[bool]] = []
    for key, value in filters.items():
        if not key or len(key) > 100:
            raise Invalid(f"bad metadata key {key!r}")
        element = column[key]
        options: list[ColumnElement[bool]] = [element.as_string() == value]
        if dialect == "sqlite":
            if _is_number(value):
                options.append(element.as_float() == float(value))
            if value in {"true", "false"}:
                options.append(element.as_boolean() == (value == "true"))
        conditions.append(or_(*options))
    return conditions


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
