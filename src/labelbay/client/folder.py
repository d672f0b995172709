"""Uploading a folder of images: walked once, sent in batches of streamed files, resumable.

The upload route stores every file it is sent, a repeat too, so resuming is done here: each local
file's SHA-256 is compared with those of the project's images (`sha256` of the image list) and with
the files already sent, and only new content goes out. Running the same command again after an
interruption sends only what did not arrive.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelbay.client.client import Client, ProgressFn
from labelbay.client.models import Rejected

# What the server can store; it judges the content, this only picks the files worth sending.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


@dataclass
class FolderScan:
    """The files of a folder (walked, sorted): images by name, and everything else."""

    images: list[Path]
    not_images: list[Path]

    @property
    def image_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.images)


@dataclass
class FolderUpload:
    """What happened to each image file of the folder."""

    stored: int = 0
    already_there: int = 0
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)


def scan_folder(folder: Path) -> FolderScan:
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    images: list[Path] = []
    others: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            (images if path.suffix.lower() in IMAGE_SUFFIXES else others).append(path)
    return FolderScan(images=images, not_images=others)


def upload_folder(
    client: Client,
    project_id: int,
    scan: FolderScan,
    *,
    batch_files: int = 50,
    batch_bytes: int = 64 << 20,
    metadata: Mapping[str, Any] | None = None,
    on_bytes: ProgressFn | None = None,
) -> FolderUpload:
    """Send the scanned images the project does not have yet, `batch_files` files (or
    `batch_bytes` bytes) per request. `on_bytes` hears of every byte sent or skipped."""
    known = {image.sha256: image.original_filename for image in client.iter_images(project_id)}
    sent: dict[str, Path] = {}
    outcome = FolderUpload()
    batch: list[Path] = []
    size = 0

    def send() -> None:
        nonlocal batch, size
        result = client.upload_images(project_id, batch, metadata=metadata, on_bytes=on_bytes)
        outcome.stored += len(result.images)
        outcome.rejected.extend(result.rejected)
        if result.job_id is not None:
            outcome.job_ids.append(result.job_id)
        batch, size = [], 0

    for path in scan.images:
        file_size = path.stat().st_size
        digest = _sha256(path)
        if digest in known:
            outcome.already_there += 1
        elif digest in sent:
            outcome.duplicates.append((path, sent[digest]))
        else:
            sent[digest] = path
            batch.append(path)
            size += file_size
            if len(batch) >= batch_files or size >= batch_bytes:
                send()
            continue
        if on_bytes is not None:
            on_bytes(file_size)
    if batch:
        send()
    return outcome


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
