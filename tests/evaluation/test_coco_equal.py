"""Every COCO summary number equals pycocotools' COCOeval (bbox) on the same data, within 1e-4."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.evaluation.cocoref import (
    assert_same_as_cocoeval,
    coco_file,
    labelbay_report,
    results,
)

CLASSES = ["cat", "dog", "bird"]
# three sizes: small (20x20 = 400), medium (50x50), large (120x120)
A = [10.0, 10.0, 20.0, 20.0]
B = [100.0, 100.0, 50.0, 50.0]
C = [300.0, 200.0, 120.0, 120.0]


def _shift(box: list[float], dx: float) -> list[float]:
    return [box[0] + dx, box[1], box[2], box[3]]


def _case(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if name == "perfect":
        gt = coco_file(2, [(1, 1, A), (1, 2, B), (2, 3, C)], CLASSES)
        return gt, results([(1, 1, A, 0.9), (1, 2, B, 0.8), (2, 3, C, 0.7)])
    if name == "all_missed":
        gt = coco_file(2, [(1, 1, A), (2, 2, B)], CLASSES)
        return gt, results([(1, 1, _shift(A, 200), 0.9), (2, 2, _shift(B, 300), 0.5)])
    if name == "no_predictions":
        return coco_file(2, [(1, 1, A), (2, 2, B)], CLASSES), []
    if name == "duplicates":
        gt = coco_file(1, [(1, 1, B), (1, 1, C)], CLASSES)
        rows = [(1, 1, B, 0.9), (1, 1, _shift(B, 2), 0.95), (1, 1, _shift(B, 4), 0.6)]
        return gt, results([*rows, (1, 1, C, 0.3), (1, 1, C, 0.3)])
    if name == "multi_class":
        gt = coco_file(
            3,
            [(1, 1, A), (1, 2, B), (2, 2, _shift(B, 100)), (2, 3, C), (3, 1, _shift(C, -200))],
            CLASSES,
        )
        rows = [
            (1, 1, _shift(A, 3), 0.8),  # IoU ~0.74: a hit below .75
            (1, 2, B, 0.6),
            (1, 3, B, 0.7),  # right place, wrong class
            (2, 2, _shift(B, 110), 0.9),
            (2, 3, _shift(C, 30), 0.4),
            (3, 1, _shift(C, -190), 0.5),
            (3, 2, A, 0.99),
        ]
        return gt, results(rows)
    if name == "empty_images":
        gt = coco_file(4, [(2, 1, B), (4, 2, C)], CLASSES)
        return gt, results([(1, 1, A, 0.5), (2, 1, B, 0.9), (3, 2, C, 0.2), (4, 2, C, 0.8)])
    if name == "class_without_predictions":
        gt = coco_file(2, [(1, 1, A), (1, 2, B), (2, 3, C)], CLASSES)
        return gt, results([(1, 1, A, 0.9), (2, 3, _shift(C, 5), 0.8)])
    if name == "equal_scores":
        gt = coco_file(2, [(1, 1, B), (2, 1, B)], CLASSES)
        rows = [(1, 1, _shift(B, 200), 0.5), (1, 1, B, 0.5), (2, 1, B, 0.5), (2, 1, A, 0.5)]
        return gt, results(rows)
    if name == "unknown_classes":  # a class id neither file lists: COCOeval leaves it out
        gt = coco_file(2, [(1, 1, A), (1, 9, B), (2, 2, C)], CLASSES)
        return gt, results([(1, 1, A, 0.9), (1, 9, B, 0.8), (2, 7, C, 0.99), (2, 2, C, 0.5)])
    raise AssertionError(name)


CASES = [
    "perfect",
    "all_missed",
    "no_predictions",
    "duplicates",
    "multi_class",
    "empty_images",
    "class_without_predictions",
    "equal_scores",
    "unknown_classes",
]


@pytest.mark.parametrize("name", CASES)
def test_hand_built_case_equals_cocoeval(name: str) -> None:
    gt, dt = _case(name)
    got = assert_same_as_cocoeval(gt, dt)
    if name == "perfect":
        assert got["map"] == pytest.approx(1.0)
        assert got["ar1"] == pytest.approx(1.0)
    if name in ("all_missed", "no_predictions"):
        assert got["map"] == 0
        assert got["ar100"] == 0


def test_class_without_predictions_counts_in_all_classes_not_in_present() -> None:
    report = labelbay_report(*_case("class_without_predictions"))
    data = report.to_json()
    assert data["classes_present"] == ["cat", "bird"]
    assert data["present"]["map"] > data["map"]
    assert data["map"] == pytest.approx(data["present"]["map"] * 2 / 3)
    dog = data["per_class"][1]
    assert (dog["ap"], dog["predictions"], dog["ground_truth"]) == (0.0, 0, 1)


def generated(
    images: int, seed: int, *, crowd: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ground truth of 0 to 6 boxes of 5 classes per image, predictions near them (jittered,
    sometimes of the wrong class, duplicated or missing) plus false alarms, scores with ties."""
    rng = np.random.default_rng(seed)
    classes = [f"c{i}" for i in range(5)]
    boxes: list[tuple[int, int, list[float]]] = []
    rows: list[tuple[int, int, list[float], float]] = []
    for image_id in range(1, images + 1):
        for _ in range(int(rng.integers(0, 7))):
            w, h = (rng.uniform(4, 200, 2)).round(2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            category = int(rng.integers(1, 6))
            box = [round(float(x), 2), round(float(y), 2), float(w), float(h)]
            boxes.append((image_id, category, box))
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
                jitter = rng.normal(0, 0.08, 4) * [w, h, w, h]
                guess = [float(v) for v in np.maximum(np.array(box) + jitter, 1).round(2)]
                wrong = rng.random() < 0.1
                rows.append(
                    (
                        image_id,
                        int(rng.integers(1, 6)) if wrong else category,
                        guess,
                        float(rng.choice([0.5, 0.9]) if rng.random() < 0.1 else rng.random()),
                    )
                )
        for _ in range(int(rng.integers(0, 3))):
            w, h = rng.uniform(4, 150, 2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            box = [float(v) for v in np.round([x, y, w, h], 2)]
            rows.append((image_id, int(rng.integers(1, 6)), box, float(rng.random() * 0.6)))
    gt = coco_file(images, boxes, classes)
    if crowd:
        for annotation in gt["annotations"][::17]:
            annotation["iscrowd"] = 1
    return gt, results(rows)


@pytest.mark.slow
def test_generated_2000_images_equal_cocoeval() -> None:
    gt, dt = generated(2000, seed=11)
    assert len(gt["annotations"]) > 5000
    assert len(dt) > 6000
    got = assert_same_as_cocoeval(gt, dt)
    assert 0.2 < got["map"] < 0.9  # a model that is neither perfect nor useless


def test_generated_with_crowd_regions_equal_cocoeval() -> None:
    gt, dt = generated(300, seed=5, crowd=True)
    assert_same_as_cocoeval(gt, dt)


def test_more_than_100_predictions_per_image_are_cut_like_cocoeval() -> None:
    """110 confident false alarms, then hits with lower scores: COCO keeps the best 100 per image
    and class, so hits past rank 100 never count."""
    boxes = [(1, 1, [float(x), 10.0, 30.0, 30.0]) for x in range(0, 600, 40)]
    alarms = [(1, 1, [float(x % 600), 300.0, 30.0, 30.0], 0.9 - x / 1e4) for x in range(110)]
    hits = [(1, 1, box, 0.5 - n / 100) for n, (_, _, box) in enumerate(boxes)]
    hits_elsewhere = [(2, 1, [10.0, 10.0, 30.0, 30.0], 0.95)]
    gt = coco_file(2, [*boxes, (2, 1, [10.0, 10.0, 30.0, 30.0])], ["a"])
    got = assert_same_as_cocoeval(gt, results([*alarms, *hits, *hits_elsewhere]))
    assert got["ar100"] == pytest.approx(1 / 16)
