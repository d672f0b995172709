"""Confusion matrix, PR curve, P/R/F1 and per-image TP/FP/FN on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from labelbay.evaluation import BoxSet, evaluate_classification, evaluate_detections

CLASSES = ["cat", "dog", "bird"]
CAT, DOG, BIRD = 0, 1, 2
A = [10.0, 10.0, 40.0, 40.0]
B = [100.0, 100.0, 50.0, 50.0]
C = [300.0, 200.0, 120.0, 120.0]
FAR = [500.0, 10.0, 30.0, 30.0]


def _three_images() -> tuple[BoxSet, BoxSet]:
    """Image 0: a cat found, a dog taken for a cat. Image 1: a bird missed, a dog seen in empty
    space (score 0.3). Image 2: nothing at all."""
    gt = BoxSet.build(image=[0, 0, 1], category=[CAT, DOG, BIRD], xywh=[A, B, C])
    dt = BoxSet.build(
        image=[0, 0, 1], category=[CAT, CAT, DOG], xywh=[A, B, FAR], score=[0.9, 0.8, 0.3]
    )
    return gt, dt


def test_per_image_and_per_prediction_outcomes() -> None:
    gt, dt = _three_images()
    report = evaluate_detections(gt, dt, classes=CLASSES, n_images=3)
    assert report.image_tp.tolist() == [1, 0, 0]
    assert report.image_fp.tolist() == [1, 1, 0]
    assert report.image_fn.tolist() == [1, 1, 0]
    assert report.dt_status.tolist() == [1, 0, 0]
    assert report.gt_missed.tolist() == [False, True, True]


def test_score_threshold_leaves_low_predictions_out_of_counts() -> None:
    gt, dt = _three_images()
    report = evaluate_detections(gt, dt, classes=CLASSES, n_images=3, score_threshold=0.5)
    assert report.image_fp.tolist() == [1, 0, 0]
    assert report.dt_status.tolist() == [1, 0, -1]
    at = report.to_json()["at_threshold"]
    assert (at["tp"], at["fp"], at["fn"]) == (1, 1, 2)
    assert at["precision"] == pytest.approx(0.5)
    assert at["recall"] == pytest.approx(1 / 3)


def test_best_f1_threshold() -> None:
    gt, dt = _three_images()
    best = evaluate_detections(gt, dt, classes=CLASSES, n_images=3).to_json()["best_f1"]
    # F1 = 2TP / (2TP + FP + FN): after 0.9, 2 / (2 + 0 + 2); after 0.8, 2/5; after 0.3, 2/6
    assert best["threshold"] == 0.9
    assert best["f1"] == pytest.approx(0.5)
    assert (best["tp"], best["fp"], best["fn"]) == (1, 0, 2)


def test_confusion_matrix_with_background() -> None:
    gt, dt = _three_images()
    matrix = evaluate_detections(gt, dt, classes=CLASSES, n_images=3).to_json()["confusion"]
    assert matrix["labels"] == ["cat", "dog", "bird", "background"]
    assert matrix["matrix"] == [
        [1, 0, 0, 0],  # cat: found as cat
        [1, 0, 0, 0],  # dog: taken for a cat
        [0, 0, 0, 1],  # bird: missed
        [0, 1, 0, 0],  # a dog where there is nothing
    ]


def test_confusion_iou_threshold_is_chosen() -> None:
    gt = BoxSet.build(image=[0], category=[CAT], xywh=[B])
    dt = BoxSet.build(image=[0], category=[CAT], xywh=[[120.0, 100.0, 50.0, 50.0]], score=[0.9])
    # IoU = 30*50 / (2*2500 - 1500) = 0.43
    loose = evaluate_detections(gt, dt, classes=["cat"], n_images=1, iou_threshold=0.4)
    strict = evaluate_detections(gt, dt, classes=["cat"], n_images=1)
    assert loose.confusion.tolist() == [[1, 0], [0, 0]]
    assert loose.image_tp.tolist() == [1]
    assert strict.confusion.tolist() == [[0, 1], [1, 0]]
    assert (strict.image_tp.tolist(), strict.image_fp.tolist()) == ([0], [1])


def test_pr_curve_is_cocos_interpolated_precision() -> None:
    """Two cats; predictions by score: hit, miss, hit. Precision 1, 1/2, 2/3 at recall 1/2, 1/2,
    1; interpolated: 1 up to recall 0.5, then 2/3."""
    gt = BoxSet.build(image=[0, 1], category=[CAT, CAT], xywh=[A, B])
    dt = BoxSet.build(image=[0, 0, 1], category=[CAT] * 3, xywh=[A, FAR, B], score=[0.9, 0.8, 0.7])
    data = evaluate_detections(gt, dt, classes=["cat"], n_images=2).to_json()
    curve = data["per_class"][0]["pr_curve"]
    assert len(curve["recall"]) == 101
    expected = [1.0 if r <= 0.5 else 2 / 3 for r in curve["recall"]]
    assert curve["precision"] == pytest.approx(expected, abs=1e-6)
    assert curve["score"][:51] == [0.9] * 51
    assert curve["score"][51:] == [0.7] * 50
    assert data["ap50"] == pytest.approx(np.mean(expected))


def test_class_without_ground_truth_has_no_curve() -> None:
    gt, dt = _three_images()
    data = evaluate_detections(gt, dt, classes=[*CLASSES, "fish"], n_images=3).to_json()
    fish = data["per_class"][3]
    assert fish["pr_curve"] is None
    assert fish["ap"] == -1


def test_classification_report() -> None:
    truth = np.array([0, 1, 2, 1])
    ranked = np.array([[0, 1], [2, 1], [2, 0], [-1, -1]])
    data = evaluate_classification(truth, ranked, classes=["a", "b", "c"])
    assert data["accuracy"] == 0.5
    assert data["top5_accuracy"] == 0.75
    assert data["confusion"]["matrix"] == [[1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]]
    a, b, c = data["per_class"]
    assert (a["precision"], a["recall"]) == (1.0, 1.0)
    assert (b["precision"], b["recall"]) == (0.0, 0.0)
    assert (c["precision"], c["recall"]) == (0.5, 1.0)
