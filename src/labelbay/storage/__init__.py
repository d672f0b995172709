"""Object storage: open a store from a URL, and the five named locations the platform uses.

URLs (the `LABELBAY_STORAGE_URL` setting and the per-location overrides):

- `file://./data/objects` — a folder relative to the working directory; `file:///abs/path` absolute.
- `s3://bucket/optional/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1` — an S3 bucket;
  `endpoint` for S3-compatible servers (path-style addressing, plain http allowed when the endpoint
  is http). Credentials never go in the URL, so the URL can be logged and shown by `/config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from labelbay.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PresignMethod,
    PutData,
    StorageError,
)
from labelbay.storage.keys import dated_key, new_image_key, validate_key
from labelbay.storage.obstore_store import ObstoreStore

__all__ = [
    "LOCATION_NAMES",
    "Locations",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObstoreStore",
    "PresignMethod",
    "PutData",
    "StorageError",
    "dated_key",
    "new_image_key",
    "open_locations",
    "open_store",
    "validate_key",
]

_S3_QUERY_KEYS = frozenset({"endpoint", "region"})


def open_store(
    url: str,
    *,
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
    s3_region: str | None = None,
) -> ObjectStore:
    """Open the store a URL names (see the module docstring). Credentials left as None come from
    the standard AWS environment variables; a `region` in the URL wins over `s3_region`."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.query or parts.fragment:
            raise ValueError(f"file storage URL takes no query: {url!r}")
        # `file://./data` puts "." in the host part; `file:///abs` leaves it empty.
        host = "" if parts.netloc == "localhost" else parts.netloc
        path = unquote(host + parts.path)
        if not path:
            raise ValueError(f"file storage URL names no folder: {url!r}")
        return ObstoreStore.local(Path.cwd() / path)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"s3 storage URL names no bucket: {url!r}")
        if "@" in parts.netloc:
            raise ValueError("credentials do not belong in the storage URL; pass them separately")
        query = parse_qs(parts.query, strict_parsing=bool(parts.query))
        unknown = set(query) - _S3_QUERY_KEYS
        if unknown:
            raise ValueError(f"unknown s3 storage URL option(s): {', '.join(sorted(unknown))}")
        endpoint = query["endpoint"][-1] if "endpoint" in query else None
        region = query["region"][-1] if "region" in query else s3_region
        return ObstoreStore.s3(
            parts.netloc,
            prefix=unquote(parts.path),
            endpoint=endpoint,
            region=region,
            access_key_id=s3_access_key_id,
            secret_access_key=s3_secret_access_key,
        )
    raise ValueError(f"unsupported storage URL scheme {parts.scheme!r} (use file:// or s3://)")


@dataclass(frozen=True)
class Locations:
    """The platform's named stores. Each is a prefix of the base store unless configured as its
    own bucket or folder, so e.g. model artifacts can live in a bucket with other retention."""

    input: ObjectStore  # uploaded images
    output: ObjectStore  # rendered images (boxes drawn, crops)
    nolabel: ObjectStore  # images a model found nothing in
    models: ObjectStore  # model files
    artifacts: ObjectStore  # analysis artifacts (reports, exports)

    def items(self) -> list[tuple[str, ObjectStore]]:
        """(name, store) pairs in declaration order, e.g. for `/ready` and `/config`."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


LOCATION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Locations))


def open_locations(
    base_url: str,
    overrides: Mapping[str, str | None] | None = None,
    *,
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
    s3_region: str | None = None,
) -> Locations:
    """Open the five locations: `<base_url>/<name>/` each, or the URL in `overrides[name]` when
    that is set (used as given, without a sub-prefix)."""
    overrides = overrides or {}
    unknown = set(overrides) - set(LOCATION_NAMES)
    if unknown:
        raise ValueError(f"unknown storage location(s): {', '.join(sorted(unknown))}")
    stores: dict[str, ObjectStore] = {}
    for name in LOCATION_NAMES:
        url = overrides.get(name) or _sub_url(base_url, name)
        stores[name] = open_store(
            url,
            s3_access_key_id=s3_access_key_id,
            s3_secret_access_key=s3_secret_access_key,
            s3_region=s3_region,
        )
    return Locations(**stores)


def _sub_url(base_url: str, name: str) -> str:
    """`base_url` with `/<name>` appended to its path, keeping host and query."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{name}"))
