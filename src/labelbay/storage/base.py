"""The object-storage contract every backend meets, and the errors it raises.

The protocol is synchronous on purpose: the upload path already runs in a worker thread so that
decoding and hashing don't block the event loop, and one calling convention keeps the API, the CLI
and the job workers on the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Literal, Protocol, TypeAlias, runtime_checkable

# What `put` accepts. File objects and paths are streamed in parts, never read whole.
PutData: TypeAlias = bytes | IO[bytes] | Path

PresignMethod: TypeAlias = Literal["GET", "PUT"]

# Default size of the pieces `iter_chunks` yields: big enough to keep per-chunk overhead low,
# small enough that a slow client holding a download open pins little memory.
DEFAULT_CHUNK_SIZE = 1024 * 1024


class StorageError(Exception):
    """The store could not do what was asked (unreachable, denied, misconfigured, ...)."""


class ObjectNotFound(StorageError):
    """No object exists under the key; `key` is the key as the caller gave it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key}")
        self.key = key


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """Metadata of one stored object.

    `last_modified` is None right after `put` (the backend does not return it without another
    round trip); `content_type` is None where the backend keeps no content type (local folders).
    """

    key: str
    size: int
    etag: str | None
    last_modified: datetime | None
    content_type: str | None


@runtime_checkable
class ObjectStore(Protocol):
    """A flat key → bytes store. Keys are `/`-separated relative paths such as
    `images/2024/05/01/<uuid>.jpg`; they are relative to the store's own root or prefix."""

    @property
    def url(self) -> str:
        """Where the store points (`file:///...`, `s3://bucket/prefix?endpoint=...`); never
        contains credentials, so it can be logged and shown by `/config`."""
        ...

    def put(self, key: str, data: PutData, *, content_type: str | None = None) -> ObjectInfo:
        """Write the object atomically, replacing any object under `key`."""
        ...

    def get(self, key: str) -> bytes:
        """Read the whole object; use `iter_chunks` for anything that may be large."""
        ...

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the object. Raises `ObjectNotFound` at call time, before the first chunk, so a
        route can answer 404 before it starts a streaming response."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool: ...

    def head(self, key: str) -> ObjectInfo: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix` (a plain string prefix, as on S3),
        in no guaranteed order. Listed objects carry no content type."""
        ...

    def copy(self, src_key: str, dst_key: str) -> None: ...

    def presign(
        self, key: str, *, method: PresignMethod = "GET", expires_in: timedelta
    ) -> str | None:
        """A URL that grants `method` on `key` without credentials until it expires, or None
        when the backend cannot sign (a local folder): the caller then serves the bytes itself."""
        ...

    def ping(self) -> None:
        """Raise `StorageError` unless the store answers; used by `/ready`."""
        ...
