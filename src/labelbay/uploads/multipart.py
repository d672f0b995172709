"""A streaming multipart/form-data reader that writes each file part to its own temporary file.

The request body is never held in memory: bytes go to disk as they arrive, hashed on the way, and a part
larger than the size limit stops being written (it is kept only as "too large"). Completed parts are
handed out one at a time so the caller can validate and store each before the next arrives. File
parts beyond `max_files` are counted, never written. Parsing is CPU work: callers on an event loop
run `feed` in a worker thread.

File names are taken byte for byte from the part's header and decoded as UTF-8 (RFC 7578 §4.2;
Latin-1 when they are not UTF-8); an RFC 5987 `filename*=UTF-8''...` form, which some clients add,
wins over the plain one.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from python_multipart.multipart import MultipartParser, parse_options_header


class MultipartError(ValueError):
    """The request body is not usable multipart/form-data."""


# `filename*=charset'language'percent-encoded` (RFC 5987 / RFC 8187), as some clients send it.
_EXTENDED_FILENAME = re.compile(r"""filename\*\s*=\s*([\w!#$%&+^`{}~-]+)'[^']*'([^;\s]+)""", re.I)


def header_text(raw: bytes) -> str:
    """Header bytes as text: UTF-8 (what browsers send, RFC 7578), else Latin-1 (RFC 7230)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def disposition_filename(header: str, plain: bytes | None) -> str | None:
    """The file name of a Content-Disposition header kept as Latin-1 text (byte for byte)."""
    extended = _EXTENDED_FILENAME.search(header)
    if extended:
        charset, value = extended.groups()
        try:
            return unquote(value, encoding=charset, errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    return None if plain is None else header_text(plain)


@dataclass
class FilePart:
    """One received file: where its bytes are on disk, how many, and their SHA-256."""

    field_name: str
    filename: str
    content_type: str
    path: Path | None
    size: int = 0
    sha256: str = ""
    too_large: bool = False

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass
class FormField:
    name: str
    value: str


@dataclass
class _Current:
    headers: dict[str, str] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    file: FilePart | None = None
    handle: BinaryIO | None = None
    digest: hashlib._Hash | None = None
    text: bytearray | None = None


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data content type, or `MultipartError`."""
    if not content_type:
        raise MultipartError("request has no Content-Type; send multipart/form-data")
    mime, params = parse_options_header(content_type)
    if mime != b"multipart/form-data":
        raise MultipartError("Content-Type must be multipart/form-data")
    boundary = params.get(b"boundary")
    if not boundary:
        raise MultipartError("multipart/form-data without a boundary")
    return boundary


class StreamingFormReader:
    """Feed it body chunks with `feed`; take completed parts with `pop_completed`."""

    MAX_FIELD_BYTES = 64 * 1024

    def __init__(
        self,
        boundary: bytes,
        *,
        max_file_bytes: int,
        max_files: int | None = None,
        spool_dir: Path | None = None,
    ):
        self._max_file_bytes = max_file_bytes
        self._max_files = max_files
        self.files_seen = 0
        self.files_over_limit = 0  # file parts past `max_files`: counted, not written
        self._spool_dir = spool_dir
        self._completed: deque[FilePart | FormField] = deque()
        self._current = _Current()
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )

    @property
    def ended(self) -> bool:
        """True once the closing boundary has been read."""
        return self._ended

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartError:
            raise
        except Exception as exc:  # the parser raises its own error types for malformed bodies
            raise MultipartError(f"malformed multipart body: {exc}") from exc

    def pop_completed(self) -> FilePart | FormField | None:
        return self._completed.popleft() if self._completed else None

    def abort(self) -> None:
        """Delete whatever is half-written (the client went away or the body was bad)."""
        current = self._current
        if current.handle is not None:
            current.handle.close()
            current.handle = None
        if current.file is not None:
            current.file.discard()
        while self._completed:
            part = self._completed.popleft()
            if isinstance(part, FilePart):
                part.discard()

    # -- parser callbacks -------------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._current = _Current()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._current.header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._current.header_value += data[start:end]

    def _on_header_end(self) -> None:
        current = self._current
        name = current.header_field.decode("latin-1").strip().lower()
        # Latin-1 keeps the bytes as they came; names and values are decoded where they are used.
        current.headers[name] = current.header_value.decode("latin-1").strip()
        current.header_field = bytearray()
        current.header_value = bytearray()

    def _on_headers_finished(self) -> None:
        current = self._current
        header = current.headers.get("content-disposition", "")
        disposition, params = parse_options_header(header)
        if disposition != b"form-data":
            raise MultipartError("a part without Content-Disposition: form-data")
        name = header_text(params.get(b"name", b""))
        filename = disposition_filename(header, params.get(b"filename"))
        if filename is not None:
            self.files_seen += 1
            if self._max_files is not None and self.files_seen > self._max_files:
                self.files_over_limit += 1
                return  # neither file nor text: its data is skipped
            fd, path = tempfile.mkstemp(prefix="labelbay-upload-", dir=self._spool_dir)
            current.handle = os.fdopen(fd, "wb")
            current.digest = hashlib.sha256()
            current.file = FilePart(
                field_name=name,
                filename=filename,
                content_type=current.headers.get("content-type", ""),
                path=Path(path),
            )
        else:
            current.text = bytearray()
            current.headers["x-field-name"] = name

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        current = self._current
        piece = data[start:end]
        if current.file is not None:
            part = current.file
            part.size += len(piece)
            if part.too_large:
                return
            if part.size > self._max_file_bytes:
                # Stop writing, free the disk, keep counting so the reason can say how big it was.
                part.too_large = True
                assert current.handle is not None
                current.handle.close()
                current.handle = None
                part.discard()
                return
            assert current.handle is not None
            assert current.digest is not None
            current.handle.write(piece)
            current.digest.update(piece)
        elif current.text is not None:
            if len(current.text) + len(piece) > self.MAX_FIELD_BYTES:
                raise MultipartError(f"a form field is larger than {self.MAX_FIELD_BYTES} bytes")
            current.text += piece

    def _on_part_end(self) -> None:
        current = self._current
        if current.file is not None:
            if current.handle is not None:
                current.handle.close()
                current.handle = None
            if current.digest is not None and not current.file.too_large:
                current.file.sha256 = current.digest.hexdigest()
            self._completed.append(current.file)
        elif current.text is not None:
            name = current.headers.get("x-field-name", "")
            self._completed.append(FormField(name, current.text.decode("utf-8", "replace")))
        self._current = _Current()

    def _on_end(self) -> None:
        self._ended = True
