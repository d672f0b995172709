"""COCO export: what pycocotools loads, and what COCOeval scores on a case with a known AP."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.exports.helpers import box, detection, export, labelled_project
from tests.support.stack import Stack

GT_A = box(10, 10, 110, 110)
GT_B = box(50, 40, 150, 140)


def _coco(data: dict[str, Any], tmp_path: Path, name: str) -> COCO:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _average_precision(
    stack: Stack, tmp_path: Path, second: dict[str, float], second_score: float
) -> float:
    """Two images, one ground-truth box each (annotations); predictions: exact on the first,
    `second` on the second."""
    labelled = labelled_project(
        stack,
        sizes=[(200, 160), (200, 160), (64, 48)],
        labels=["bird", "cat"],
        predictions={
            0: [detection("bird", 0.9, GT_A)],
            1: [detection("bird", second_score, second)],
        },
        annotations={
            0: [{"kind": "box", "label": "bird", "geometry": GT_A}],
            1: [{"kind": "box", "label": "bird", "geometry": GT_B}],
        },
    )
    truth = export(stack, labelled, format="coco", source="annotations").json()
    found = export(stack, labelled, format="coco", source="predictions").json()
    assert [i["id"] for i in truth["images"]] == [i["id"] for i in found["images"]]
    gt = _coco(truth, tmp_path, "gt.json")
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(found["annotations"])
        evaluation = COCOeval(gt, dt, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def test_exact_predictions_score_ap_one(stack: Stack, tmp_path: Path) -> None:
    assert _average_precision(stack, tmp_path, GT_B, 0.8) == pytest.approx(1.0)


def test_a_shifted_box_scores_the_computed_ap(stack: Stack, tmp_path: Path) -> None:
    # Shifted right by 20 px: IoU = 80/120 = 0.667, a match at the IoU thresholds .50-.65 (4 of
    # 10) only. Above them the exact box (higher score) is found first: precision 1 up to recall
    # 0.5 and nothing beyond, i.e. 51 of COCO's 101 recall points.
    shifted = box(70, 40, 170, 140)
    expected = (4 * 1.0 + 6 * 51 / 101) / 10
    assert _average_precision(stack, tmp_path, shifted, 0.5) == pytest.approx(expected, abs=1e-6)


def test_coco_fields(stack: Stack, tmp_path: Path) -> None:
    labelled = labelled_project(
        stack,
        sizes=[(200, 160), (64, 48), (64, 48)],
        labels=["bird", "cat"],
        names=["a.jpg", "a.jpg", "b.jpg"],
        predictions={0: [detection("cat", 0.75, box(10, 20, 40, 60), class_id=1)]},
        annotations={
            0: [
                {"kind": "box", "label": "cat", "geometry": box(10, 20, 40, 60)},
                {
                    "kind": "polygon",
                    "label": "bird",
                    "geometry": {"points": [[0, 0], [10, 0], [0, 10]]},
                },
            ]
        },
    )
    both = export(stack, labelled, format="coco", source="both")
    assert both.headers["content-disposition"].startswith("attachment; filename=")
    assert both.headers["content-disposition"].endswith('.zip"')
    archive = zipfile.ZipFile(io.BytesIO(both.content))
    data = json.loads(archive.read("annotations/instances_default.json"))
    coco = _coco(data, tmp_path, "both.json")
    # Categories: 1-based, in the order of the label set.
    assert data["categories"] == [
        {"id": 1, "name": "bird", "supercategory": ""},
        {"id": 2, "name": "cat", "supercategory": ""},
    ]
    # Every image, labelled or not; relative, unique file names.
    assert len(coco.getImgIds()) == 3
    names = [image["file_name"] for image in data["images"]]
    assert names[0] == "a.jpg"
    assert names[2] == "b.jpg"
    assert names[1].endswith("_a.jpg")
    assert "/" not in names[1]
    assert [(i["width"], i["height"]) for i in data["images"]] == [(200, 160), (64, 48), (64, 48)]
    polygon, cat_truth = sorted(data["annotations"], key=lambda a: a["category_id"])
    (cat_predicted,) = json.loads(archive.read("predictions.json"))  # a COCO results list
    assert polygon["category_id"] == 1
    assert polygon["area"] == 50.0
    assert polygon["segmentation"] == [[0.0, 0.0, 10.0, 0.0, 0.0, 10.0]]
    assert cat_truth["bbox"] == [10.0, 20.0, 30.0, 40.0]
    assert cat_truth["area"] == 1200.0
    assert "score" not in cat_truth
    assert cat_predicted["score"] == 0.75
    assert cat_predicted["category_id"] == 2
    assert cat_predicted["image_id"] == 1
    assert all(a["iscrowd"] == 0 and a["image_id"] == 1 for a in data["annotations"])


def test_selection_and_refusals(stack: Stack) -> None:
    labelled = labelled_project(
        stack,
        sizes=[(64, 48), (64, 48)],
        labels=["bird"],
        predictions={1: [detection("bird", 0.5, box(1, 1, 9, 9))]},
        annotations={},
    )
    only = export(stack, labelled, format="coco", has_predictions="true").json()
    assert len(only["images"]) == 1
    assert len(only["annotations"]) == 1
    url = f"/api/v1/projects/{labelled.project_id}/export"
    assert stack.client.get(url, params={"model": "det"}).status_code == 401
    answer = stack.client.get(url, params={"source": "predictions"}, headers=labelled.headers)
    assert answer.status_code == 422
    answer = stack.client.get(url, params={"model": "nope"}, headers=labelled.headers)
    assert answer.status_code == 404
    outsider = stack.user("outsider@example.com")
    assert stack.client.get(url, params={"model": "det"}, headers=outsider).status_code == 404
