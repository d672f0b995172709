"""Segmentation evaluation (COCOeval's iouType="segm"): mask IoU instead of box IoU, all 12
numbers equal to pycocotools' on a hand-built case and generated ones (polygons, compressed and
uncompressed RLE, crowd regions, results with and without a bbox)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from tests.evaluation.cocoref import assert_same_as_cocoeval, coco_file
from tests.evaluation.test_coco_equal import generated

H, W = 480, 640


def _rle(bitmap: np.ndarray) -> dict[str, Any]:
    rle = coco_mask.encode(np.asfortranarray(bitmap.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}


def _ellipse(box: list[float], points: int = 24) -> list[float]:
    x, y, w, h = box
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    xs = x + w / 2 + w / 2 * np.cos(angles)
    ys = y + h / 2 + h / 2 * np.sin(angles)
    return [round(float(v), 2) for pair in zip(xs, ys, strict=True) for v in pair]


def _blob(box: list[float], seed: int) -> np.ndarray:
    """A random-ish region inside the box: the box less a random notch."""
    rng = np.random.default_rng(seed)
    bitmap = np.zeros((H, W), np.uint8)
    x0, y0 = int(box[0]), int(box[1])
    x1, y1 = min(W, int(box[0] + box[2]) + 1), min(H, int(box[1] + box[3]) + 1)
    bitmap[y0:y1, x0:x1] = 1
    nx, ny = x0 + int(rng.integers(0, max(1, x1 - x0))), y0 + int(rng.integers(0, max(1, y1 - y0)))
    bitmap[ny:y1, nx:x1] = 0
    return bitmap


def _uncompressed(bitmap: np.ndarray) -> dict[str, Any]:
    flat = bitmap.T.ravel()
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": [H, W], "counts": runs}


def segm(
    gt: dict[str, Any], dt: list[dict[str, Any]], *, keep_bbox: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The boxes of a generated case as regions: ellipse polygons, blobs as compressed or
    uncompressed RLE (crowd regions as RLE, as COCO stores them). Without `keep_bbox` the
    results carry only their masks, and pycocotools takes their box and area from them."""
    gt, dt = copy.deepcopy(gt), copy.deepcopy(dt)
    for n, annotation in enumerate(gt["annotations"]):
        if annotation["iscrowd"] or n % 3 == 0:
            bitmap = _blob(annotation["bbox"], n)
            annotation["segmentation"] = _uncompressed(bitmap) if n % 2 else _rle(bitmap)
            annotation["area"] = float(bitmap.sum())
        else:
            annotation["segmentation"] = [_ellipse(annotation["bbox"])]
    for n, result in enumerate(dt):
        if n % 4 == 0:
            result["segmentation"] = _rle(_blob(result["bbox"], 10_000 + n))
        else:
            result["segmentation"] = [_ellipse(result["bbox"], 16)]
        if not keep_bbox:  # loadRes takes a result without a bbox only as RLE
            if isinstance(result["segmentation"], list):
                (drawn,) = coco_mask.frPyObjects(result["segmentation"], H, W)
                result["segmentation"] = {"size": [H, W], "counts": drawn["counts"].decode()}
            del result["bbox"]
    return gt, dt


def test_hand_built_segm_case_equals_cocoeval() -> None:
    """One image: a disc drawn as RLE that a polygon predicts well and a box-shaped mask badly,
    a polygon of the other class predicted by a mask, and a false alarm."""
    gt = coco_file(1, [(1, 1, [100, 100, 100, 100]), (1, 2, [300, 50, 60, 80])], ["a", "b"])
    y, x = np.ogrid[:H, :W]
    disc = ((x - 150) ** 2 + (y - 150) ** 2 <= 50**2).astype(np.uint8)
    gt["annotations"][0]["segmentation"] = _rle(disc)
    gt["annotations"][0]["area"] = float(disc.sum())
    gt["annotations"][1]["segmentation"] = [[300, 50, 360, 50, 330, 130]]
    gt["annotations"][1]["area"] = 2400.0
    square = np.zeros((H, W), np.uint8)
    square[100:200, 100:200] = 1
    triangle = np.zeros((H, W), np.uint8)
    triangle[50:130, 310:350] = 1
    dt = [
        {"image_id": 1, "category_id": 1, "bbox": [100, 100, 100, 100], "score": 0.9,
         "segmentation": [_ellipse([100, 100, 100, 100], 40)]},
        {"image_id": 1, "category_id": 1, "bbox": [100, 100, 100, 100], "score": 0.95,
         "segmentation": _rle(square)},
        {"image_id": 1, "category_id": 2, "bbox": [310, 50, 40, 80], "score": 0.7,
         "segmentation": _rle(triangle)},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 30, 30], "score": 0.8,
         "segmentation": [[0, 0, 30, 0, 30, 30, 0, 30]]},
    ]  # fmt: skip
    got = assert_same_as_cocoeval(gt, dt, "segm")
    # Box IoU would make the square a perfect match; its mask IoU is pi/4: a miss at 0.8+.
    box_view = assert_same_as_cocoeval(gt, dt, "bbox")
    assert got["map"] < box_view["map"]


@pytest.mark.parametrize("keep_bbox", [True, False])
def test_generated_segm_with_crowd_regions_equals_cocoeval(keep_bbox: bool) -> None:
    gt, dt = segm(*generated(120, seed=3, crowd=True), keep_bbox=keep_bbox)
    rles = [a["segmentation"] for a in gt["annotations"] if isinstance(a["segmentation"], dict)]
    assert {type(rle["counts"]) for rle in rles} == {str, list}
    got = assert_same_as_cocoeval(gt, dt, "segm")
    assert 0.05 < got["map"] < 0.95
