"""Where a label import's files are while its job waits: an upload's parts are kept in the
artifacts location (so a worker on another machine reads them) under `label-imports/<uuid>/`,
and removed when the job ends; a folder or an S3 prefix is read where it is.

A job's `selection` says which: `{"upload": "label-imports/<uuid>/"}` or `{"source_url": url}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

from labelbay.imports.bundle import Bundle, from_store
from labelbay.imports.sources import open_source
from labelbay.runtime import Runtime
from labelbay.uploads.filenames import BadFilename, clean_filename

UPLOAD_PREFIX = "label-imports/"


def keep_upload(deps: Runtime, files: Sequence[tuple[str, IO[bytes]]]) -> dict[str, Any]:
    """Store the uploaded files for the job; its `selection`. Names are cleaned (no folders: a
    zip keeps its own inside) and numbered, so two parts of one name both stay."""
    prefix = f"{UPLOAD_PREFIX}{uuid.uuid4()}/"
    store = deps.storage.artifacts
    kept: list[str] = []
    try:
        for number, (name, data) in enumerate(files):
            try:
                clean = clean_filename(name, max_length=deps.settings.max_filename_length)
            except BadFilename:
                clean = "file"
            key = f"{prefix}{number:04d}-{clean}" if len(files) > 1 else f"{prefix}{clean}"
            store.put(key, data)
            kept.append(key)
    except BaseException:
        for key in kept:
            store.delete(key)
        raise
    return {"upload": prefix}


@contextmanager
def open_files(deps: Runtime, selection: Mapping[str, Any]) -> Iterator[Bundle]:
    if "upload" in selection:
        with from_store(deps.storage.artifacts, str(selection["upload"])) as bundle:
            yield bundle
        return
    source = open_source(str(selection["source_url"]), deps.settings)
    with from_store(source.store, source.prefix) as bundle:
        yield bundle


def drop_upload(deps: Runtime, selection: Mapping[str, Any]) -> None:
    """Remove an upload's kept files (after the job ended)."""
    prefix = selection.get("upload")
    if not prefix:
        return
    store = deps.storage.artifacts
    for info in list(store.list(str(prefix))):
        store.delete(info.key)
