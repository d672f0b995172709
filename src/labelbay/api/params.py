"""Query-string conventions shared by list endpoints."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from labelbay.errors import Invalid

META_PREFIX = "metadata."


def metadata_filters(params: QueryParams) -> dict[str, str]:
    """`?metadata.camera=north&metadata.day=3` → `{"camera": "north", "day": "3"}`."""
    filters: dict[str, str] = {}
    for key, value in params.multi_items():
        if key.startswith(META_PREFIX):
            name = key.removeprefix(META_PREFIX)
            if name in filters:
                raise Invalid(f"metadata filter {name!r} given twice")
            filters[name] = value
    return filters
