"""Where imported images come from: an S3 bucket/prefix or a local folder, named by a URL.

- `s3://bucket/optional/prefix?endpoint=http://minio:9000&region=us-east-1` — read with the
  platform's S3 credentials (`LABELBAY_S3_*`, else the AWS environment);
- `file:///absolute/folder` (the CLI also takes a plain path).

Every object gets a URL of its own (`s3://bucket/key?endpoint=...`, `file:///folder/key`): an
imported image keeps it in `images.source_url`, and a reference-mode image is read back from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit, urlunsplit

from labelbay.config import Settings
from labelbay.db.models import Image
from labelbay.errors import Forbidden, Invalid
from labelbay.security.outbound import OutboundGuard
from labelbay.storage import Locations, ObjectStore, open_store

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")


@dataclass(frozen=True)
class ImportSource:
    url: str  # canonical: what the cursor is kept under
    kind: str  # "s3" or "file"
    store: ObjectStore  # rooted at the bucket or the folder
    prefix: str  # listing prefix inside the store ("" for a folder)
    root: str  # the store's URL, to which a key is appended for an object's URL

    def object_url(self, key: str) -> str:
        return join_url(self.root, key)


def canonical_url(url: str) -> str:
    """`url` as a source URL: a plain path becomes `file://`, `~` and `..` are resolved."""
    if "://" not in url:
        return Path(url).expanduser().resolve().as_uri()
    return url


def check_source(url: str, *, admin: bool, settings: Settings) -> None:
    """`Forbidden` unless the caller may make the server read `url`: the server's folders and S3
    endpoints that are not allow-listed (`LABELBAY_OUTBOUND_ALLOWLIST`) need an administrator,
    since the server would send its own S3 credentials to whatever the endpoint names."""
    if admin:
        return
    parts = urlsplit(canonical_url(url))
    if parts.scheme == "file":
        raise Forbidden("importing from the server's folders needs an administrator")
    query = parse_qs(parts.query)
    # Without an endpoint the bucket and region become part of an AWS host name: keep them names.
    if parts.scheme == "s3" and not _S3_BUCKET.fullmatch(parts.netloc):
        raise Forbidden(f"{parts.netloc!r} is not an S3 bucket name")
    if not all(_S3_REGION.fullmatch(region) for region in query.get("region", [])):
        raise Forbidden("the S3 region must be a region name such as us-east-1")
    guard = OutboundGuard.of(settings.outbound_allowlist)
    for endpoint in query.get("endpoint", []):
        host = urlsplit(endpoint).hostname or ""
        if urlsplit(endpoint).scheme not in ("http", "https") or not guard.allow_listed(host):
            raise Forbidden(
                f"S3 endpoint {endpoint!r} is not allow-listed; an administrator can import "
                "from it, or allow-list its host in LABELBAY_OUTBOUND_ALLOWLIST"
            )


def open_source(url: str, settings: Settings) -> ImportSource:
    """The source a URL names; `Invalid` when it is not an S3 URL or an existing folder."""
    url = canonical_url(url)
    parts = urlsplit(url)
    if parts.scheme == "file":
        folder = Path(unquote(parts.path))
        if parts.netloc not in ("", "localhost") or not folder.is_absolute():
            raise Invalid("a folder source is file:///absolute/path")
        try:
            is_folder = folder.is_dir()
        except OSError as exc:  # a name too long for the file system, a loop of links
            raise Invalid(f"cannot read folder {folder}: {exc.strerror}") from exc
        if not is_folder:
            raise Invalid(f"no such folder: {folder}")
        root = folder.as_uri()
        return ImportSource(root, "file", _open(root, settings), "", root)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise Invalid("an S3 source names a bucket: s3://bucket/prefix")
        prefix = unquote(parts.path).lstrip("/")
        root = urlunsplit(("s3", parts.netloc, "", parts.query, ""))
        try:
            store = _open(root, settings)
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        canonical = urlunsplit(("s3", parts.netloc, "/" + prefix, parts.query, ""))
        return ImportSource(canonical, "s3", store, prefix, root)
    raise Invalid("import from s3://bucket/prefix or file:///folder")


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


def image_store(storage: Locations, settings: Settings, image: Image) -> tuple[ObjectStore, str]:
    """Where an image's bytes are: the input location, or its source for a reference image."""
    if image.external and image.source_url:
        root, key = split_url(image.source_url)
        return _open(root, settings), key
    return storage.input, image.storage_key


def _open(root: str, settings: Settings) -> ObjectStore:
    key_id, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return _cached_store(
        root,
        key_id.get_secret_value() if key_id else None,
        secret.get_secret_value() if secret else None,
        settings.s3_region,
    )


@lru_cache(maxsize=64)
def _cached_store(
    root: str, access_key_id: str | None, secret_access_key: str | None, region: str | None
) -> ObjectStore:
    return open_store(
        root,
        s3_access_key_id=access_key_id,
        s3_secret_access_key=secret_access_key,
        s3_region=region,
    )


def s3_url(bucket: str, prefix: str, **query: str) -> str:
    """An S3 source URL (a helper for callers and tests)."""
    return urlunsplit(("s3", bucket, "/" + prefix, urlencode(query), ""))
