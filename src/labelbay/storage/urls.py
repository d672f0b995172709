"""Stores named by URL outside the five locations (an import's bucket or folder), and the URL of one
object in such a store.

An object's URL is its store's URL with the key appended (`s3://bucket/key?endpoint=...`,
`file:///folder/key`); `split_url` takes one apart again. Stores opened here are kept per URL and
credentials, so reading many images of one bucket opens one client.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from labelbay.storage import ObjectStore, open_store


def join_url(root: str, key: str) -> str:
    """The URL of object `key` under a store URL (the query, an S3 endpoint, stays at the end)."""
    parts = urlsplit(root)
    path = parts.path.rstrip("/") + "/" + quote(key)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def split_url(url: str) -> tuple[str, str]:
    """(store URL, key) of an object URL: the store is the object's folder, the key its name."""
    parts = urlsplit(url)
    folder, _, name = parts.path.rpartition("/")
    return urlunsplit((parts.scheme, parts.netloc, folder, parts.query, "")), unquote(name)


@lru_cache(maxsize=64)
def open_cached(
    root: str,
    *,
    s3_access_key_id: str | None,
    s3_secret_access_key: str | None,
    s3_region: str | None,
) -> ObjectStore:
    """`open_store(root, ...)`, opened once per process for the same URL and credentials."""
    return open_store(
        root,
        s3_access_key_id=s3_access_key_id,
        s3_secret_access_key=s3_secret_access_key,
        s3_region=s3_region,
    )
