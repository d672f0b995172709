"""Where imported images come from: an S3 bucket/prefix or a local folder, named by a URL.

- `s3://bucket/optional/prefix?endpoint=http://minio:9000&region=us-east-1` — read with the
  platform's S3 credentials (`LABELBAY_S3_*`, else the AWS environment);
- `file:///absolute/folder` (the CLI also takes a plain path).

Every object gets a URL of its own (`s3://bucket/key?endpoint=...`, `file:///folder/key`): an
imported image keeps it in `images.source_url`, and a reference-mode image is read back from it
(`services.images.image_location`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

from labelbay.config import Settings
from labelbay.errors import Forbidden, Invalid
from labelbay.outbound import OutboundGuard
from labelbay.services.images import source_store
from labelbay.storage import ObjectStore
from labelbay.storage.urls import join_url

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
    if parts.scheme == "s3" and parts.netloc and not _S3_BUCKET.fullmatch(parts.netloc):
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
        return ImportSource(root, "file", source_store(root, settings), "", root)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise Invalid("an S3 source names a bucket: s3://bucket/prefix")
        prefix = unquote(parts.path).lstrip("/")
        root = urlunsplit(("s3", parts.netloc, "", parts.query, ""))
        try:
            store = source_store(root, settings)
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        canonical = urlunsplit(("s3", parts.netloc, "/" + prefix, parts.query, ""))
        return ImportSource(canonical, "s3", store, prefix, root)
    raise Invalid("import from s3://bucket/prefix or file:///folder")


def s3_url(bucket: str, prefix: str, **query: str) -> str:
    """An S3 source URL (a helper for callers and tests)."""
    return urlunsplit(("s3", bucket, "/" + prefix, urlencode(query), ""))
