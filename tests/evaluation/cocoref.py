"""pycocotools' COCOeval run on COCO dicts, beside labelbay's evaluation of the same dicts."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labelbay.evaluation import evaluate_detections
from labelbay.evaluation.coco import SUMMARY
from labelbay.evaluation.cocofile import IouType, ground_truth, predictions
from labelbay.evaluation.detection import DetectionReport

NAMES = [name for name, *_ in SUMMARY]


def cocoeval_stats(
    gt: dict[str, Any], results: list[dict[str, Any]], iou_type: IouType = "bbox"
) -> dict[str, float]:
    """COCOeval(iouType=...).stats, by name."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results)) if results else COCO()
        if not results:  # loadRes refuses an empty list; an empty result set is still valid
            coco_dt.dataset = {"images": gt["images"], "annotations": [], "categories": []}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(NAMES, (float(v) for v in evaluator.stats), strict=True))


def labelbay_report(
    gt: dict[str, Any], results: list[dict[str, Any]], iou_type: IouType = "bbox"
) -> DetectionReport:
    coco = ground_truth(gt, iou_type=iou_type)
    return evaluate_detections(
        coco.gt,
        predictions(results, coco),
        classes=coco.classes,
        n_images=len(coco.image_ids),
    )


def assert_same_as_cocoeval(
    gt: dict[str, Any], results: list[dict[str, Any]], iou_type: IouType = "bbox"
) -> dict[str, float]:
    expected = cocoeval_stats(gt, results, iou_type)
    got = labelbay_report(gt, results, iou_type).coco.summary()
    for name in NAMES:
        assert np.isclose(got[name], expected[name], atol=1e-4, rtol=0), (
            name,
            got[name],
            expected[name],
        )
    return got


def coco_file(
    images: int, boxes: list[tuple[int, int, list[float]]], categories: list[str]
) -> dict[str, Any]:
    """A COCO ground-truth dict: images 1…n (640x480), boxes as (image_id, category_id, bbox)."""
    return {
        "images": [
            {"id": i, "width": 640, "height": 480, "file_name": f"{i}.jpg"}
            for i in range(1, images + 1)
        ],
        "annotations": [
            {
                "id": n + 1,
                "image_id": image_id,
                "category_id": category_id,
                "bbox": bbox,
                "area": bbox[2] * bbox[3],
                "iscrowd": 0,
            }
            for n, (image_id, category_id, bbox) in enumerate(boxes)
        ],
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(categories)],
    }


def results(rows: list[tuple[int, int, list[float], float]]) -> list[dict[str, Any]]:
    return [{"image_id": i, "category_id": c, "bbox": b, "score": s} for i, c, b, s in rows]
