"""The files a label import reads, whatever they came in: the parts of an upload (kept in the
artifacts location until the job has run), a server folder or an S3 prefix. Zips among them are
opened in place, so `labels/a.txt` inside `dataset.zip` is an entry like a file of a folder.

Entries are read one at a time: an object is copied to a temp file when opened (and removed when
closed); a zip is copied once and read by member. Image files are entries too: an import that
brings its images matches and stores them from here.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from labelbay.imports.sources import IMAGE_SUFFIXES
from labelbay.storage import ObjectStore

COPY_CHUNK = 1024 * 1024
NOT_ZIP = (*IMAGE_SUFFIXES, ".json", ".txt", ".yaml", ".yml", ".xml", ".csv")


@dataclass(frozen=True)
class Entry:
    name: str  # a relative POSIX path: "instances.json", "labels/train/a.txt", "images/a.jpg"
    size: int | None
    open: Callable[[], AbstractContextManager[IO[bytes]]]  # a seekable binary file

    @property
    def is_image(self) -> bool:
        return self.name.lower().endswith(IMAGE_SUFFIXES)


class Bundle:
    """Named entries, in listing order; see the module docstring."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._images: dict[str, Entry] = {}
        for entry in entries:
            if entry.is_image:
                # By relative path and by bare name: COCO's `file_name` may carry a folder.
                self._images.setdefault(entry.name, entry)
                self._images.setdefault(PurePosixPath(entry.name).name, entry)
                self._images.setdefault(PurePosixPath(entry.name).stem, entry)  # YOLO's names

    def named(self, *suffixes: str) -> list[Entry]:
        return [e for e in self.entries if e.name.lower().endswith(suffixes)]

    def image(self, name: str) -> Entry | None:
        """The image file the labels name, if the import brought it."""
        return self._images.get(name) or self._images.get(PurePosixPath(name).name)

    def documents(self, *suffixes: str) -> list[Entry]:
        """The entries a format reads: those with one of `suffixes`, else the only entry that is
        not an image (a file uploaded without the usual suffix)."""
        found = self.named(*suffixes)
        if found:
            return found
        others = [e for e in self.entries if not e.is_image]
        return others if len(others) == 1 else []

    def images(self) -> list[Entry]:
        return [e for e in self.entries if e.is_image]

    @staticmethod
    def of_file(path: Path, name: str) -> AbstractContextManager[Bundle]:
        """One local file (a zip is opened as its members)."""
        return _bundle([(name, path.stat().st_size, _local(path))])


def from_store(store: ObjectStore, prefix: str) -> AbstractContextManager[Bundle]:
    """Every object under `prefix`, named relative to it."""
    listed = [
        (info.key[len(prefix) :].lstrip("/"), info.size, _object(store, info.key))
        for info in store.list(prefix)
    ]
    return _bundle(listed)


Opener = Callable[[], AbstractContextManager[IO[bytes]]]


@contextmanager
def _bundle(listed: Sequence[tuple[str, int | None, Opener]]) -> Iterator[Bundle]:
    with ExitStack() as stack:
        entries: list[Entry] = []
        for name, size, opener in listed:
            if name.lower().endswith(NOT_ZIP):
                entries.append(Entry(name, size, opener))
                continue
            # A zip by its bytes: an upload's name may have no suffix.
            handle = stack.enter_context(opener())
            try:
                archive = stack.enter_context(zipfile.ZipFile(handle))
            except zipfile.BadZipFile:
                entries.append(Entry(name, size, opener))  # the reader reports it
                continue
            for info in archive.infolist():
                if not info.is_dir():
                    entries.append(Entry(info.filename, info.file_size, _member(archive, info)))
        yield Bundle(entries)


def _local(path: Path) -> Opener:
    return lambda: path.open("rb")


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Opener:
    return lambda: archive.open(info)


def _object(store: ObjectStore, key: str) -> Opener:
    @contextmanager
    def opened() -> Iterator[IO[bytes]]:
        with tempfile.TemporaryFile(prefix="labelbay-import-") as copy:
            for chunk in store.iter_chunks(key, COPY_CHUNK):
                copy.write(chunk)
            copy.seek(0)
            yield copy

    return opened


def chunks(entry: Entry) -> Iterator[bytes]:
    """The entry's bytes in chunks (for `spool`, which hashes them on the way)."""
    with entry.open() as source:
        while chunk := source.read(COPY_CHUNK):
            yield chunk
