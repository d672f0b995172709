"""`ObjectStore` over obstore, for a local folder and for any S3-compatible service.

One class serves both backends because obstore already gives them one API; the few differences
(local folders keep no content type and cannot presign) are handled here in one place each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import quote, urlencode

import obstore
from obstore.exceptions import BaseError
from obstore.store import LocalStore, S3Store

from labelbay.storage.base import (
    DEFAULT_CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    PresignMethod,
    PutData,
    StorageError,
)
from labelbay.storage.keys import validate_key, validate_prefix

if TYPE_CHECKING:
    from obstore import Attributes, ObjectMeta
    from obstore.store import ClientConfig, RetryConfig, S3Config

# Part size for multipart uploads (S3's minimum is 5 MiB) and how many parts are in flight at once:
# together they bound an upload's memory to about PART_SIZE * PART_CONCURRENCY, whatever the size
# of the file.
PART_SIZE = 8 * 1024 * 1024
PART_CONCURRENCY = 4

# obstore's default 30 s limit covers the whole response body, which would cut off a large
# download streamed to a slow client; a read timeout catches stalled connections instead.
_CLIENT_OPTIONS: ClientConfig = {
    "connect_timeout": timedelta(seconds=5),
    "read_timeout": timedelta(seconds=60),
    "timeout": timedelta(hours=1),
}
# The default (10 retries within 3 minutes) would keep `/ready` hanging on a dead endpoint.
_RETRY: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=20)}


class ObstoreStore:
    """An `ObjectStore` backed by an obstore `LocalStore` or `S3Store`.

    Build it with `local()` or `s3()`; the obstore store's own prefix keeps every key of this
    store under one folder or key prefix.
    """

    def __init__(self, store: LocalStore | S3Store, *, url: str) -> None:
        self._store = store
        self._url = url

    @classmethod
    def local(cls, root: Path) -> ObstoreStore:
        """A store rooted at the folder `root`, which is created if missing."""
        root = root.expanduser().resolve()
        # No `automatic_cleanup`: removing emptied day folders on delete could race a concurrent
        # put into the same folder, and empty folders cost nothing.
        return cls(LocalStore(prefix=root, mkdir=True), url=root.as_uri())

    @classmethod
    def s3(
        cls,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> ObstoreStore:
        """A store in `bucket` under `prefix`. Credentials and region left as None come from the
        standard AWS environment variables, which obstore reads itself."""
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        client_options: ClientConfig = {**_CLIENT_OPTIONS}
        config: S3Config = {}
        if endpoint is not None:
            # S3-compatible servers (MinIO, moto, Ceph) rarely have per-bucket DNS names.
            config["virtual_hosted_style_request"] = False
            config["endpoint"] = endpoint.rstrip("/")
            client_options["allow_http"] = endpoint.startswith("http://")
        if region is not None:
            config["region"] = region
        if access_key_id is not None:
            config["access_key_id"] = access_key_id
        if secret_access_key is not None:
            config["secret_access_key"] = secret_access_key
        store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,
            client_options=client_options,
            retry_config=_RETRY,
        )
        query = {k: v for k, v in (("endpoint", endpoint), ("region", region)) if v}
        url = f"s3://{bucket}" + (f"/{quote(prefix)}" if prefix else "")
        url += f"?{urlencode(query, safe=':/')}" if query else ""
        return cls(store, url=url)

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"ObstoreStore({self._url!r})"

    def put(self, key: str, data: PutData, *, content_type: str | None = None) -> ObjectInfo:
        validate_key(key)
        if isinstance(data, Path):
            # Opening here (not handing obstore the path) makes a missing source file raise the
            # caller's FileNotFoundError rather than look like a missing object.
            with data.open("rb") as file:
                return self._put_file(key, file, content_type)
        if isinstance(data, bytes):
            etag = self._put_raw(key, data, content_type)
            return ObjectInfo(key, len(data), etag, None, content_type)
        return self._put_file(key, data, content_type)

    def get(self, key: str) -> bytes:
        validate_key(key)
        with _translated(key):
            return bytes(obstore.get(self._store, key).bytes())

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        validate_key(key)
        with _translated(key):
            # Started eagerly so a missing object fails here, not at the first `next()`.
            result = obstore.get(self._store, key)
        return _guarded(key, result.stream(min_chunk_size=chunk_size))

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            with _translated(key):
                obstore.delete(self._store, key)
        except ObjectNotFound:
            pass  # S3 deletes are idempotent; local ones are made so to match.

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        with _translated(key):
            # A HEAD through `get` (rather than `obstore.head`) also returns the attributes,
            # i.e. the content type, in the same single request.
            result = obstore.get(self._store, key, options={"head": True})
            return _info(result.meta, result.attributes.get("Content-Type"))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        # obstore matches whole path segments (`images/20` finds nothing); ask it for the
        # enclosing folder and filter by string prefix, which is what S3 users expect.
        folder = prefix.rpartition("/")[0] or None
        with _translated(prefix):
            stream = obstore.list(self._store, folder, chunk_size=500)
        return (info for info in _guarded_list(prefix, stream) if info.key.startswith(prefix))

    def copy(self, src_key: str, dst_key: str) -> None:
        validate_key(src_key)
        validate_key(dst_key)
        with _translated(src_key):
            obstore.copy(self._store, src_key, dst_key)

    def presign(
        self, key: str, *, method: PresignMethod = "GET", expires_in: timedelta
    ) -> str | None:
        validate_key(key)
        if not isinstance(self._store, S3Store):
            return None
        with _translated(key):
            return obstore.sign(self._store, method, key, expires_in)

    def ping(self) -> None:
        if isinstance(self._store, LocalStore):
            # Listing a vanished folder succeeds with nothing in it, so check the folder itself.
            root = self._store.prefix
            if root is None or not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
                raise StorageError(f"storage folder missing or not writable: {self._url}")
            return
        with _translated(""):
            obstore.list_with_delimiter(self._store, None)

    def _put_file(self, key: str, file: IO[bytes], content_type: str | None) -> ObjectInfo:
        if file.seekable():
            # obstore uploads from the current position and needs the length up front to choose
            # between one request and a multipart upload.
            start = file.tell()
            size = file.seek(0, os.SEEK_END) - start
            file.seek(start)
            etag = self._put_raw(key, file, content_type)
            return ObjectInfo(key, size, etag, None, content_type)
        # A non-seekable stream (a socket, a pipe) goes up part by part; the first part decides
        # whether a multipart upload is needed at all.
        first = file.read(PART_SIZE)
        if len(first) < PART_SIZE:
            etag = self._put_raw(key, first, content_type)
            return ObjectInfo(key, len(first), etag, None, content_type)
        sizes = [len(first)]

        def parts() -> Iterator[bytes]:
            yield first
            while chunk := file.read(PART_SIZE):
                sizes.append(len(chunk))
                yield chunk

        etag = self._put_raw(key, parts(), content_type)
        return ObjectInfo(key, sum(sizes), etag, None, content_type)

    def _put_raw(
        self,
        key: str,
        data: bytes | IO[bytes] | Iterator[bytes],
        content_type: str | None,
    ) -> str | None:
        """Upload and return the new ETag."""
        attributes: Attributes | None = None
        # Local folders keep no attributes (obstore refuses them), so the type is not stored.
        if content_type is not None and isinstance(self._store, S3Store):
            attributes = {"Content-Type": content_type}
        with _translated(key, missing_means_object=False):
            result = obstore.put(
                self._store,
                key,
                data,
                attributes=attributes,
                chunk_size=PART_SIZE,
                max_concurrency=PART_CONCURRENCY,
            )
        return result["e_tag"]


@contextmanager
def _translated(key: str, *, missing_means_object: bool = True) -> Iterator[None]:
    """Turn obstore's exceptions into ours: FileNotFoundError is a missing object (where that is
    what it can mean), every other obstore or I/O error a `StorageError`."""
    try:
        yield
    except FileNotFoundError as exc:
        if missing_means_object:
            raise ObjectNotFound(key) from exc
        raise StorageError(_describe(exc)) from exc
    except (BaseError, OSError) as exc:
        raise StorageError(_describe(exc)) from exc


def _guarded(key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    with _translated(key):
        yield from chunks


def _guarded_list(prefix: str, stream: Iterator[Sequence[ObjectMeta]]) -> Iterator[ObjectInfo]:
    with _translated(prefix, missing_means_object=False):
        for chunk in stream:
            for meta in chunk:
                yield _info(meta, None)


def _info(meta: ObjectMeta, content_type: str | None) -> ObjectInfo:
    return ObjectInfo(
        key=meta["path"],
        size=meta["size"],
        etag=meta["e_tag"],
        last_modified=meta["last_modified"],
        content_type=content_type,
    )


def _describe(exc: BaseException) -> str:
    # obstore appends a multi-line Rust debug dump; the first line carries the message.
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no details'}"
