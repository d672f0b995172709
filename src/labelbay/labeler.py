"""`labelbay label`: label folders of images offline and write COCO, JSON, CSV, YOLO or Label
Studio tasks, with the same writers (and so the same columns) as the API's project export.

Files are read lazily and streamed through the shared pipeline; the writers stream too, so a
folder of a million images needs no more memory than a folder of ten.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tqdm import tqdm

from labelbay.exports.base import ExportImage, Sink
from labelbay.exports.formats import Format, open_writer
from labelbay.inference.base import Model
from labelbay.inference.detections import Detections
from labelbay.inference.imageio import decode_image
from labelbay.inference.pipeline import StageTimes, label_stream
from labelbay.inference.render import render_jpeg

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
OUTPUT_FORMATS: tuple[Format, ...] = (
    "coco",
    "json",
    "csv",
    "yolo",
    "yolo-seg",
    "labelstudio",
    "voc",
    "cvat",
    "masks",
)


@dataclass
class Summary:
    images: int = 0
    labelled: int = 0
    unlabelled: int = 0
    failed: int = 0
    per_class: Counter[str] = field(default_factory=Counter)
    times: StageTimes = field(default_factory=StageTimes)

    def lines(self) -> list[str]:
        rate = self.images / self.times.wall if self.times.wall else 0.0
        out = [
            f"images: {self.images}  labelled: {self.labelled}  unlabelled: {self.unlabelled}  "
            f"failed: {self.failed}  ({rate:.1f} images/s)",
        ]
        out += [f"  {name}: {count}" for name, count in self.per_class.most_common()]
        return out


def find_images(paths: Sequence[Path]) -> list[Path]:
    """Image files under the given files and folders, sorted, each once."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for root, _dirs, files in os.walk(path):
                found.update(
                    Path(root) / f for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES
                )
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return sorted(found)


def _read(files: Iterable[Path]) -> Iterator[tuple[Path, bytes]]:
    for file in files:
        yield file, file.read_bytes()


def label_files(
    model: Model,
    files: Sequence[Path],
    *,
    out: IO[bytes],
    output_format: Format,
    root: Path | None = None,
    render_dir: Path | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> Summary:
    summary = Summary()
    sink = Sink()
    writer = open_writer(output_format, sink, categories=model.spec.class_names)
    bar = tqdm(total=len(files), unit="img", disable=not progress, dynamic_ncols=True)
    try:
        for result in label_stream(
            model,
            _read(files),
            batch_size=batch_size,
            timings=summary.times,
            on_batch=bar.update,
        ):
            name = _relative(result.key, root)
            summary.images += 1
            if result.detections is None:
                summary.failed += 1
                bar.update(1)
                bar.write(f"skipped {name}: {result.error}")
                continue
            found = result.detections
            summary.labelled += bool(len(found))
            summary.unlabelled += not len(found)
            summary.per_class.update(found.name_of(int(c)) for c in found.class_id)
            labels = found.to_labels(
                width=result.width, height=result.height, classify=model.spec.task == "classify"
            )
            writer.add(ExportImage(None, name, name, result.width, result.height, labels))
            out.write(sink.take())
            if render_dir is not None and len(found):
                _render(result.key, found, render_dir / Path(name).with_suffix(".jpg"))
    finally:
        bar.close()
    writer.close()
    out.write(sink.take())
    return summary


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.name if root is None else path.as_posix()


def _render(source: Path, detections: Detections, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    pixels = decode_image(source.read_bytes()).pixels
    target.write_bytes(render_jpeg(pixels, detections))
