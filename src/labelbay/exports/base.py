"""What every export writer takes and writes into: an image with its labels, and a sink.

Writers (`coco`, `yolo`, `csv_json`, `labelstudio`) import this module only; `formats` maps a
format name to its writer, and `project` walks a project's images into `ExportImage`s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from labelbay.labels import Label

Origin = Literal["prediction", "annotation"]
# An image's file, for exports that carry the images (`include_images`).
ImageBytes = Callable[["ExportImage"], bytes]


@dataclass(frozen=True)
class ExportImage:
    """One image and its labels: a model version's predictions and people's annotations."""

    id: uuid.UUID | None
    file_name: str  # relative, unique within the export
    original_filename: str
    width: int
    height: int
    predicted: list[Label] = field(default_factory=list)
    annotated: list[Label] = field(default_factory=list)

    def labels(self) -> Iterator[tuple[Origin, Label]]:
        for label in self.predicted:
            yield "prediction", label
        for label in self.annotated:
            yield "annotation", label


class Writer(Protocol):
    def add(self, image: ExportImage) -> None: ...

    def close(self) -> None: ...


class Sink:
    """Collects what a writer writes (text or bytes) until the next `take()`; a file-like enough
    for `zipfile` to write a streamed archive into."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self._pending = 0

    def write(self, data: str | bytes) -> int:
        chunk = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        self._pending += len(chunk)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    @property
    def pending(self) -> int:
        """Bytes written since the last `take()`."""
        return self._pending

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self._pending = 0
        return data
