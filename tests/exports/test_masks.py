"""Masks out and back in, judged by the tools: pycocotools decodes the COCO RLE to the stored
pixels and runs COCOeval(iouType="segm") on an export of boxes and masks, datumaro imports it,
an import of the export gives the same masks, Label Studio's converter decodes its brush RLE to
the same pixels (and labelbay reads the RLE it writes), and YOLO-seg and the PNG zip carry their
outlines and pixels."""

from __future__ import annotations

import csv
import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labelbay import labels
from labelbay.labels import MaskGeometry
from tests.api.factories import image_part, jpeg_bytes, upload_ok
from tests.exports.helpers import Labelled, box, export, labelled_project
from tests.imports.test_label_import import _import as import_labels
from tests.imports.test_label_import import _labels_of as labels_of
from tests.support.stack import Stack
from tests.test_brush_rle import ls_brush

SIZES = [(96, 64), (80, 60)]
NAMES = ["a.jpg", "b.jpg"]


def _disc(cx: int, cy: int, r: int, width: int, height: int) -> np.ndarray:
    y, x = np.ogrid[:height, :width]
    return ((x - cx) ** 2 + (y - cy) ** 2 <= r * r).astype(np.uint8)


def _two_parts(width: int, height: int) -> np.ndarray:
    bitmap = _disc(20, 20, 10, width, height)
    bitmap[40:50, 60:75] = 1
    return bitmap


MASKS = {0: [("cell", _two_parts(*SIZES[0]))], 1: [("cell", _disc(40, 30, 15, *SIZES[1]))]}


def _mask(name: str, bitmap: np.ndarray) -> dict[str, Any]:
    return {"kind": "mask", "label": name, "geometry": MaskGeometry.encode(bitmap).model_dump()}


def _project(stack: Stack) -> Labelled:
    """Masks and a box drawn by people; the model found the same masks (scored) and a box."""
    return labelled_project(
        stack,
        sizes=SIZES,
        labels=["cell", "dirt"],
        names=NAMES,
        predictions={
            i: [
                *(labels.parse(_mask(n, b) | {"score": 0.9}).to_json() for n, b in found),
                labels.make("box", "dirt", box(2, 2, 12, 10), score=0.6).to_json(),
            ]
            for i, found in MASKS.items()
        },
        annotations={
            i: [
                *(_mask(n, b) for n, b in found),
                {"kind": "box", "label": "dirt", "geometry": box(2, 2, 12, 10)},
            ]
            for i, found in MASKS.items()
        },
    )


def _read_zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_coco_rle_decodes_to_the_stored_masks_pixel_for_pixel(stack: Stack) -> None:
    document = export(stack, _project(stack), format="coco", source="annotations").json()
    images = {image["id"]: image["file_name"] for image in document["images"]}
    seen = 0
    for annotation in document["annotations"]:
        segmentation = annotation["segmentation"]
        index = NAMES.index(images[annotation["image_id"]])
        if isinstance(segmentation, dict):
            assert annotation["iscrowd"] == 0
            want = MASKS[index][0][1]
            np.testing.assert_array_equal(coco_mask.decode(segmentation), want)
            assert annotation["area"] == int(want.sum())
            x, y, w, h = coco_mask.toBbox(segmentation)
            assert annotation["bbox"] == [x, y, w, h]
            seen += 1
        else:  # a box: its rectangle, so segm readers take it too
            assert segmentation == [[2, 2, 12, 2, 12, 10, 2, 10]]
    assert seen == 2


def test_cocoeval_segm_runs_on_an_export_of_boxes_and_masks(stack: Stack, tmp_path: Path) -> None:
    files = _read_zip(export(stack, _project(stack), format="coco", source="both").content)
    (tmp_path / "gt.json").write_bytes(files["annotations/instances_default.json"])
    results = json.loads(files["predictions.json"])
    assert {type(r["segmentation"]).__name__ for r in results} == {"dict", "list"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycocotools prints and warns on its own
        gt = COCO(str(tmp_path / "gt.json"))
        evaluation = COCOeval(gt, gt.loadRes(results), iouType="segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # The model found exactly what people drew: every class at every threshold is right.
    assert evaluation.stats[0] == pytest.approx(1.0)
    assert evaluation.stats[1] == pytest.approx(1.0)


def test_datumaro_imports_the_masks(stack: Stack, tmp_path: Path) -> None:
    labelled = _project(stack)
    content = export(stack, labelled, format="coco", source="annotations", include_images="true")
    folder = tmp_path / "coco"
    with zipfile.ZipFile(io.BytesIO(content.content)) as archive:
        archive.extractall(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datumaro as dm

        dataset = dm.Dataset.import_from(str(folder), "coco_instances")
        found = {}
        for item in dataset:
            for a in item.annotations:
                if a.type == dm.AnnotationType.mask:
                    found[item.media.size] = (a.image.astype(np.uint8), a.attributes)
    assert len(found) == 2
    for index, (width, height) in enumerate(SIZES):
        pixels, attributes = found[(height, width)]
        np.testing.assert_array_equal(pixels, MASKS[index][0][1])
        assert attributes.get("is_crowd") is False


def _new_project(stack: Stack, source: Labelled) -> int:
    project = stack.project(source.headers, labels=["cell", "dirt"])
    parts = [image_part(jpeg_bytes(w, h, seed=i), NAMES[i]) for i, (w, h) in enumerate(SIZES)]
    upload_ok(stack, project["id"], source.headers, *parts)
    return int(project["id"])


def _import(stack: Stack, source: Labelled, project_id: int, data: bytes, **form: str) -> Any:
    """Import through the job, as a user does; its counts and report (the shape of
    `tests/imports/test_label_import.py`'s helper)."""
    return import_labels(stack, source, project_id, data, **form)


def _annotations(stack: Stack, source: Labelled, project_id: int) -> list[list[dict[str, Any]]]:
    images = stack.client.get(
        f"/api/v1/projects/{project_id}/images", headers=source.headers
    ).json()["images"]
    return [
        stack.client.get(f"/api/v1/images/{image['id']}/annotations", headers=source.headers).json()
        for image in sorted(images, key=lambda i: i["original_filename"])
    ]


def test_coco_round_trip_gives_identical_masks(stack: Stack) -> None:
    source = _project(stack)
    target = _new_project(stack, source)
    data = export(stack, source, format="coco", source="annotations").content
    report = _import(stack, source, target, data, format="coco", target="annotations")
    assert (report["added"], report["problems"]) == (4, [])
    for got, want in zip(
        _annotations(stack, source, target),
        _annotations(stack, source, source.project_id),
        strict=True,
    ):
        assert sorted((a["kind"], json.dumps(a["geometry"])) for a in got) == sorted(
            (a["kind"], json.dumps(a["geometry"])) for a in want
        )


def test_coco_uncompressed_rle_and_polygon_parts_are_imported_as_masks(stack: Stack) -> None:
    source = _project(stack)
    target = _new_project(stack, source)
    width, height = SIZES[0]
    bitmap = _disc(30, 30, 12, width, height)
    runs = [len(list(g)) for _, g in __import__("itertools").groupby(bitmap.T.ravel())]
    runs = ([0] if bitmap.T.ravel()[0] else []) + runs
    parts = [[5, 5, 15, 5, 15, 15, 5, 15], [40, 40, 60, 40, 60, 55]]
    document = {
        "images": [{"id": 1, "file_name": NAMES[0], "width": width, "height": height}],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [18, 18, 25, 25],
                "iscrowd": 1,
                "segmentation": {"size": [height, width], "counts": runs},
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [5, 5, 55, 50],
                "iscrowd": 0,
                "segmentation": parts,
            },
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 5, 5],
                "segmentation": {"size": [height + 1, width], "counts": "0"},
            },
        ],
    }
    report = _import(
        stack, source, target, json.dumps(document).encode(), format="coco", target="annotations"
    )
    assert report["added"] == 2
    assert [p["place"] for p in report["problems"]] == ["labels#/annotations/2"]
    first, _ = _annotations(stack, source, target)
    assert [a["kind"] for a in first] == ["mask", "mask"]
    np.testing.assert_array_equal(coco_mask.decode(first[0]["geometry"]), bitmap)
    drawn = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(parts, height, width)))
    np.testing.assert_array_equal(coco_mask.decode(first[1]["geometry"]), drawn)


def test_yolo_seg_writes_outlines_and_imports_as_polygons(stack: Stack) -> None:
    source = _project(stack)
    files = _read_zip(export(stack, source, format="yolo-seg", source="annotations").content)
    lines = files["labels/a.txt"].decode().splitlines()
    assert len(lines) == 2
    width, height = SIZES[0]
    for line in lines:
        values = [float(v) for v in line.split()[1:]]
        assert len(values) >= 6
        assert len(values) % 2 == 0
        assert all(0 <= v <= 1 for v in values)
    # The mask's line is the outline of its larger part (the disc, not the small block).
    mask_line = next(line for line in lines if line.startswith("0 "))
    xy = np.array([float(v) for v in mask_line.split()[1:]]).reshape(-1, 2) * (width, height)
    drawn = labels.polygon_mask([tuple(p) for p in xy], width, height).decode()
    disc = _disc(20, 20, 10, width, height)
    assert (drawn & disc).sum() / (drawn | disc).sum() > 0.85
    assert lines[1].split()[1:] == [
        f"{v:.6f}" for x, y in [(2, 2), (12, 2), (12, 10), (2, 10)] for v in (x / 96, y / 64)
    ]

    target = _new_project(stack, source)
    report = _import(stack, source, target, _zip(files), format="yolo", target="annotations")
    assert (report["added"], report["problems"]) == (4, [])
    assert {a["kind"] for image in _annotations(stack, source, target) for a in image} == {
        "polygon"
    }


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_label_studio_gets_masks_as_brush_rle_its_converter_decodes(stack: Stack) -> None:
    tasks = export(stack, _project(stack), format="labelstudio", source="both").json()
    seen = 0
    for task in tasks:
        index = NAMES.index(task["data"]["file_name"])
        width, height = SIZES[index]
        for group in ("annotations", "predictions"):
            (brush,) = [r for r in task[group][0]["result"] if r["type"] == "brushlabels"]
            assert brush["from_name"] == "brush"
            assert (brush["original_width"], brush["original_height"]) == (width, height)
            assert brush["value"]["format"] == "rle"
            assert brush["value"]["brushlabels"] == ["cell"]
            rgba = ls_brush.decode_rle(brush["value"]["rle"]).reshape(height, width, 4)
            np.testing.assert_array_equal(rgba[:, :, 3] > 0, MASKS[index][0][1] > 0)
            seen += 1
        assert not [r for r in task["annotations"][0]["result"] if r["type"] == "polygonlabels"]
    assert seen == 4


def test_label_studio_round_trip_gives_identical_masks(stack: Stack) -> None:
    source = _project(stack)
    target = _new_project(stack, source)
    data = export(stack, source, format="labelstudio", source="both").content
    people = _import(stack, source, target, data, format="labelstudio", target="annotations")
    assert (people["added"], people["problems"]) == (4, [])
    model = _import(
        stack, source, target, data, format="labelstudio", target="predictions", model="ls"
    )
    assert (model["added"], model["problems"]) == (4, [])
    for what in ("annotations", "predictions"):
        # The same COCO RLE text (one text per bitmap): the same pixels. Boxes come back within
        # float rounding of the percentages (tests/imports/test_label_import.py).
        got, want = (
            [[entry for entry in image if entry[0] == "mask"] for image in found]
            for found in (
                labels_of(stack, source, target, what),
                labels_of(stack, source, source.project_id, what),
            )
        )
        assert got == want
        assert [len(image) for image in got] == [1, 1]


def test_label_studio_brushes_drawn_in_label_studio_are_imported(stack: Stack) -> None:
    """RLE that Label Studio's converter wrote (a coloured stroke with soft edges, as the editor
    draws), and bad brushes: each reported by place with its reason, the rest stored."""
    source = _project(stack)
    target = _new_project(stack, source)
    width, height = SIZES[1]
    disc = _disc(40, 30, 15, width, height)
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[disc > 0] = (255, 0, 0, 200)
    good = ls_brush.encode_rle(rgba.ravel())

    def region(rle: Any, **extra: Any) -> dict[str, Any]:
        value = {"format": "rle", "rle": rle, "brushlabels": ["cell"]}
        return {"type": "brushlabels", "from_name": "tag", "to_name": "image", "value": value}

    results = [
        region(good) | {"original_width": width, "original_height": height},
        region(good[: len(good) // 2]),
        region(ls_brush.mask2rle(np.ones((2, 2), np.uint8))),
        region(good) | {"original_width": width + 1, "original_height": height},
        region([1, 300, 2]),
        region(10**9),
    ]
    tasks = [
        {"data": {"image": f"/data/upload/1/{NAMES[1]}"}, "annotations": [{"result": results}]}
    ]
    report = _import(
        stack,
        source,
        target,
        json.dumps(tasks).encode(),
        format="labelstudio",
        target="annotations",
    )
    reasons = {p["place"].rsplit("/", 1)[1]: p["reason"] for p in report["problems"]}
    assert report["added"] == 1, report
    assert "before its last value" in reasons["1"]
    assert f"holds 16 values, not the {width}x{height}x4" in reasons["2"]
    assert f"brush of {width + 1}x{height} pixels on an image of {width}x{height}" in reasons["3"]
    assert "byte values, 0 to 255" in reasons["4"]
    assert "byte values, 0 to 255" in reasons["5"]
    _, second = _annotations(stack, source, target)
    (mask,) = second
    np.testing.assert_array_equal(coco_mask.decode(mask["geometry"]), disc)


def test_masks_zip_holds_instance_and_semantic_pngs(stack: Stack) -> None:
    files = _read_zip(export(stack, _project(stack), format="masks", source="both").content)
    rows = list(csv.DictReader(io.StringIO(files["instances.csv"].decode())))
    classes = list(csv.reader(io.StringIO(files["classes.csv"].decode())))
    assert classes == [["index", "name"], ["0", "background"], ["1", "cell"], ["2", "dirt"]]
    # Boxes are not regions: one predicted and one drawn mask per image.
    assert [(r["image"], r["instance"], r["origin"]) for r in rows] == [
        ("a.jpg", "1", "prediction"),
        ("a.jpg", "2", "annotation"),
        ("b.jpg", "1", "prediction"),
        ("b.jpg", "2", "annotation"),
    ]
    for index, name in enumerate(NAMES):
        instances = cv2.imdecode(
            np.frombuffer(files[f"instances/{name}.png"], np.uint8), cv2.IMREAD_UNCHANGED
        )
        semantic = cv2.imdecode(
            np.frombuffer(files[f"semantic/{name}.png"], np.uint8), cv2.IMREAD_UNCHANGED
        )
        want = MASKS[index][0][1].astype(bool)
        assert instances.dtype == np.uint16
        assert semantic.dtype == np.uint8
        np.testing.assert_array_equal(instances, np.where(want, 2, 0))  # the later covers
        np.testing.assert_array_equal(semantic, np.where(want, 1, 0))


def test_json_export_carries_the_rle(stack: Stack) -> None:
    images = export(stack, _project(stack), format="json", source="annotations").json()
    masks = [
        (image["file_name"], o) for image in images for o in image["objects"] if o["kind"] == "mask"
    ]
    assert len(masks) == 2
    for name, found in masks:
        want = MASKS[NAMES.index(name)][0][1]
        np.testing.assert_array_equal(coco_mask.decode(found["mask"]), want)


def test_json_round_trip_gives_identical_masks(stack: Stack) -> None:
    """labelbay's own JSON export imported again (format `labelbay`): the masks come back as the
    same COCO RLE, people's as annotations and the model's as predictions."""
    source = _project(stack)
    target = _new_project(stack, source)
    data = export(stack, source, format="json", source="both").content
    people = _import(stack, source, target, data, format="labelbay", target="annotations")
    assert people["problems"] == []
    model = _import(
        stack, source, target, data, format="labelbay", target="predictions", model="json"
    )
    assert model["problems"] == []
    for what in ("annotations", "predictions"):
        got, want = (
            [[entry for entry in image if entry[0] == "mask"] for image in found]
            for found in (
                labels_of(stack, source, target, what),
                labels_of(stack, source, source.project_id, what),
            )
        )
        assert got == want
        assert [len(image) for image in got] == [1, 1]
