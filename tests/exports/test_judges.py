"""The tools people use read labelbay's downloads as they are: datumaro imports the COCO and YOLO
zips (with `include_images=true`) in its native formats, supervision loads both, with the same
images, counts and boxes as the project holds."""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from labelbay import labels
from tests.exports.helpers import Labelled, box, export, labelled_project
from tests.support.stack import Stack

CLASSES = ["cat", "dog"]
SIZES = [(200, 160), (120, 90), (64, 48)]
NAMES = ["a.jpg", "b.jpg", "a.png"]  # two stems alike: the zip must keep both
BOXES = {
    0: [("cat", (10.5, 20.25, 60.0, 80.0)), ("dog", (150.0, 10.0, 190.0, 70.0))],
    1: [("dog", (1.0, 2.0, 119.0, 89.0))],
    2: [],
}


def _project(stack: Stack) -> Labelled:
    return labelled_project(
        stack,
        sizes=SIZES,
        labels=CLASSES,
        names=NAMES,
        predictions={
            i: [labels.make("box", name, box(*xyxy), score=0.5).to_json() for name, xyxy in found]
            for i, found in BOXES.items()
        },
        annotations={},
    )


def _download(stack: Stack, labelled: Labelled, tmp_path: Path, format: str) -> Path:
    answer = export(stack, labelled, format=format, source="predictions", include_images="true")
    assert answer.headers["content-type"] == "application/zip"
    folder = tmp_path / format
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = archive.namelist()
        assert len(names) == len(set(names))
        archive.extractall(folder)
    return folder


def _expected() -> list[tuple[tuple[int, int], list[tuple[int, tuple[float, ...]]]]]:
    """Per image in upload order: (height, width) and (class index, box) sorted."""
    return [
        ((h, w), sorted((CLASSES.index(name), xyxy) for name, xyxy in BOXES[i]))
        for i, (w, h) in enumerate(SIZES)
    ]


def _judge(name: str) -> ModuleType:
    """The judge's package, imported here: its own import-time warnings are not labelbay's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return __import__(name)


def _check(found: list[tuple[tuple[int, int], list[tuple[int, tuple[float, ...]]]]]) -> None:
    expected = _expected()
    assert sorted(f[0] for f in found) == sorted(e[0] for e in expected)
    for shape, boxes in expected:
        (match,) = [f for f in found if f[0] == shape]
        assert [c for c, _ in match[1]] == [c for c, _ in boxes]
        for (_, got), (_, want) in zip(match[1], boxes, strict=True):
            assert got == pytest.approx(want, abs=0.02)


@pytest.mark.parametrize(("format", "dm_format"), [("coco", "coco_instances"), ("yolo", "yolo")])
def test_datumaro_imports_the_download(
    stack: Stack, tmp_path: Path, format: str, dm_format: str
) -> None:
    folder = _download(stack, _project(stack), tmp_path, format)
    dm = _judge("datumaro")
    dataset = dm.Dataset.import_from(str(folder), dm_format)
    names = [c.name for c in dataset.categories()[dm.AnnotationType.label]]
    assert names == CLASSES
    found = []
    for item in dataset:
        height, width = item.media.size
        boxes = []
        for a in item.annotations:
            if a.type == dm.AnnotationType.bbox:
                x, y, w, h = a.get_bbox()
                boxes.append((a.label, (x, y, x + w, y + h)))
        boxes.sort()
        found.append(((height, width), boxes))
    _check(found)


def test_supervision_loads_coco_and_yolo(stack: Stack, tmp_path: Path) -> None:
    labelled = _project(stack)
    coco = _download(stack, labelled, tmp_path, "coco")
    yolo = _download(stack, labelled, tmp_path, "yolo")
    sv = _judge("supervision")
    datasets = {
        "coco": sv.DetectionDataset.from_coco(
            images_directory_path=str(coco / "images"),
            annotations_path=str(coco / "annotations" / "instances_default.json"),
        ),
        "yolo": sv.DetectionDataset.from_yolo(
            images_directory_path=str(yolo / "images"),
            annotations_directory_path=str(yolo / "labels"),
            data_yaml_path=str(yolo / "data.yaml"),
        ),
    }
    for name, dataset in datasets.items():
        assert dataset.classes == CLASSES, name
        assert len(dataset) == 3, name
        found = []
        for _path, image, detections in dataset:
            rows = sorted(
                (int(c), tuple(float(v) for v in xyxy))
                for c, xyxy in zip(detections.class_id, np.asarray(detections.xyxy), strict=True)
            )
            found.append((image.shape[:2], rows))
        _check(found)
