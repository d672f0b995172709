"""What every label reader yields: a `Record` (a label on a named image) or a `Problem` (a bad
record and its place). `label_formats` (JSON and text formats) and `xml_formats` (VOC, CVAT)
share them, and `label_import` puts the records onto a project's images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from labelbay.labels import Label


@dataclass(frozen=True)
class Record:
    """One label read from a file. `image` names the image as the file does (a file name, or a
    stem for YOLO); `make(width, height)` builds the label once the image's size is known."""

    image: str
    place: str
    make: Callable[[int, int], Label]
    by_stem: bool = False
    origin: Literal["annotation", "prediction"] | None = None  # where the file says it belongs


@dataclass(frozen=True)
class Problem:
    place: str
    reason: str
