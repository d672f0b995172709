"""Exports as other tools read them: COCO with a segmentation on every annotation and predictions
separable from the ground truth (pycocotools' loadRes and COCOeval, bbox and segm), YOLO without
stem collisions, Label Studio tasks that fit the labeling config labelbay exports."""

from __future__ import annotations

import contextlib
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labelbay import labels
from labelbay.labels import MaskGeometry
from tests.exports.helpers import Labelled, box, export, labelled_project
from tests.support.stack import Stack

PREDICTED = [
    labels.make("box", "cat", box(10, 20, 60, 80), score=0.9, class_id=0),
    labels.make("circle", "coin", {"cx": 100, "cy": 100, "r": 30}, score=0.8, class_id=1),
    labels.make("polygon", "cat", {"points": [[150, 10], [190, 20], [170, 70]]}, score=0.7),
    labels.make("text", "text", box(20, 150, 120, 170), text="HELLO", score=0.95),
]
ANNOTATED = [
    {"kind": "box", "label": "cat", "geometry": box(12, 22, 60, 80)},
    {"kind": "circle", "label": "coin", "geometry": {"cx": 101, "cy": 99, "r": 29}},
    {"kind": "polygon", "label": "cat", "geometry": {"points": [[150, 10], [190, 20], [170, 70]]}},
    {"kind": "classification", "label": "cat"},
]


def _project(
    stack: Stack, names: list[str] | None = None, annotated: list[dict[str, Any]] = ANNOTATED
) -> Labelled:
    return labelled_project(
        stack,
        sizes=[(200, 200), (200, 200)],
        labels=["cat", "coin", "text"],
        names=names or ["a.jpg", "b.jpg"],
        predictions={0: [label.to_json() for label in PREDICTED]},
        annotations={0: annotated},
    )


def _quiet(call: Any, *args: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return call(*args)


def test_coco_both_is_ground_truth_and_a_results_list_cocoeval_takes(
    stack: Stack, tmp_path: Path
) -> None:
    labelled = _project(stack)
    answer = export(stack, labelled, format="coco", source="both")
    assert answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert sorted(archive.namelist()) == ["annotations/instances_default.json", "predictions.json"]
    archive.extractall(tmp_path)
    truth = json.loads((tmp_path / "annotations" / "instances_default.json").read_text())
    results = json.loads((tmp_path / "predictions.json").read_text())
    assert all("score" not in a for a in truth["annotations"])  # ground truth has no scores
    assert [r["score"] for r in results] == [0.9, 0.8, 0.7, 0.95]
    assert all(a["segmentation"] and a["segmentation"][0] for a in truth["annotations"])
    assert all(r["segmentation"] and r["segmentation"][0] for r in results)

    gt = _quiet(COCO, str(tmp_path / "annotations" / "instances_default.json"))
    dt = _quiet(gt.loadRes, str(tmp_path / "predictions.json"))
    stats = {}
    for kind in ("bbox", "segm"):
        evaluation = COCOeval(gt, dt, iouType=kind)
        _quiet(evaluation.evaluate)
        _quiet(evaluation.accumulate)
        _quiet(evaluation.summarize)
        stats[kind] = evaluation.stats
    # The polygon and the circle match their ground truth at IoU >= 0.5 in both; the box too.
    assert stats["bbox"][1] == pytest.approx(1.0)  # AP50, per category 'cat' and 'coin'
    assert stats["segm"][1] == pytest.approx(1.0)


def test_every_coco_annotation_has_a_segmentation_inside_the_image(stack: Stack) -> None:
    labelled = labelled_project(
        stack,
        sizes=[(100, 80)],
        labels=[],
        predictions={
            0: [labels.make("circle", "coin", {"cx": 90, "cy": 70, "r": 20}, score=0.5).to_json()]
        },
        annotations={0: [{"kind": "box", "label": "coin", "geometry": box(1, 2, 30, 40)}]},
    )
    data = export(stack, labelled, format="coco", source="predictions").json()
    (circle,) = data["annotations"]
    points = circle["segmentation"][0]
    assert len(points) == 64  # a 32-gon
    assert all(0 <= x <= 100 for x in points[0::2])
    assert all(0 <= y <= 80 for y in points[1::2])
    truth = export(stack, labelled, format="coco", source="annotations").json()
    assert truth["annotations"][0]["segmentation"] == [[1, 2, 30, 2, 30, 40, 1, 40]]


def test_yolo_names_never_collide_on_a_stem(stack: Stack) -> None:
    labelled = labelled_project(
        stack,
        sizes=[(64, 48), (64, 48), (64, 48)],
        labels=["cat"],
        names=["coins.png", "coins.jpg", "Coins.jpeg"],
        predictions={
            i: [labels.make("box", "cat", box(1, 1, 9, 9), score=0.5).to_json()] for i in range(3)
        },
        annotations={},
    )
    archive = zipfile.ZipFile(io.BytesIO(export(stack, labelled, format="yolo").content))
    names = archive.namelist()
    assert len(names) == len(set(names)), "an entry written twice is lost on unzip"
    label_files = sorted(n for n in names if n.startswith("labels/"))
    assert len(label_files) == 3
    listed = archive.read("images.txt").decode().splitlines()
    stems = {Path(n).stem for n in label_files}
    assert {Path(n).stem for n in listed} == stems  # every image pairs with its own label file
    assert "images/coins.png" in listed


def _controls(config: str) -> dict[str, ET.Element]:
    root = ET.fromstring(config)
    return {element.get("name", ""): element for element in root if element.tag != "Image"}


RESULT_TAGS = {
    "rectanglelabels": "RectangleLabels",
    "ellipselabels": "EllipseLabels",
    "polygonlabels": "PolygonLabels",
    "brushlabels": "BrushLabels",
    "choices": "Choices",
    "textarea": "TextArea",
}


def test_label_studio_tasks_fit_the_exported_labeling_config(stack: Stack) -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[40:90, 120:180] = 1
    drawn = {"kind": "mask", "label": "coin", "geometry": MaskGeometry.encode(mask).model_dump()}
    labelled = _project(stack, annotated=[*ANNOTATED, drawn])
    answer = stack.client.get(
        f"/api/v1/projects/{labelled.project_id}/export/labelstudio-config",
        params={"model": labelled.model},
        headers=labelled.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    controls = _controls(answer.text)
    tasks = export(stack, labelled, format="labelstudio", source="both").json()
    results = [r for r in tasks[0]["predictions"][0]["result"]] + [
        r for r in tasks[0]["annotations"][0]["result"]
    ]
    seen_types = set()
    for result in results:
        control = controls[result["from_name"]]  # every region names a control of the config
        assert control.tag == RESULT_TAGS[result["type"]], result
        assert control.get("toName") == result["to_name"] == "image"
        seen_types.add(result["type"])
        values = result["value"].get(result["type"], [])
        allowed = {child.get("value") for child in control}
        if result["type"] != "textarea":
            assert set(values) <= allowed, (values, allowed)
    assert seen_types == set(RESULT_TAGS)
    # Three control types never share a name (Label Studio ties a result to one control).
    by_name: dict[str, set[str]] = {}
    for result in results:
        by_name.setdefault(result["from_name"], set()).add(result["type"])
    assert all(len(types) == 1 for types in by_name.values()), by_name
    # The text line's transcription is a textarea result on the same region.
    (line,) = [r for r in results if r["from_name"] == "text_line"]
    (text,) = [r for r in results if r["type"] == "textarea"]
    assert text["id"] == line["id"]
    assert text["value"]["text"] == ["HELLO"]
