from __future__ import annotations

import numpy as np
import pytest

from labelbay.inference.geometry import (
    box_iou,
    clip_boxes,
    cxcywh_to_xyxy,
    nms,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

BOXES = np.array([[10, 20, 30, 60], [0, 0, 1, 1]], dtype=np.float32)


def test_conversions_are_exact_and_invert() -> None:
    np.testing.assert_array_equal(xyxy_to_xywh(BOXES), [[10, 20, 20, 40], [0, 0, 1, 1]])
    np.testing.assert_array_equal(xyxy_to_cxcywh(BOXES), [[20, 40, 20, 40], [0.5, 0.5, 1, 1]])
    np.testing.assert_array_equal(xywh_to_xyxy(xyxy_to_xywh(BOXES)), BOXES)
    np.testing.assert_array_equal(cxcywh_to_xyxy(xyxy_to_cxcywh(BOXES)), BOXES)


def test_conversions_accept_empty_input() -> None:
    assert cxcywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4)
    assert box_iou(np.zeros((0, 4)), BOXES).shape == (0, 2)


def test_clip_boxes_clamps_to_image() -> None:
    clipped = clip_boxes([[-5, -5, 50, 70], [10, 10, 20, 20]], width=40, height=30)
    np.testing.assert_array_equal(clipped, [[0, 0, 40, 30], [10, 10, 20, 20]])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),  # half overlap
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),  # contained
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # empty boxes: 0, not NaN
    ],
)
def test_box_iou_exact_cases(a: list[float], b: list[float], expected: float) -> None:
    iou = box_iou([a], [b])
    assert iou.shape == (1, 1)
    assert iou[0, 0] == pytest.approx(expected, abs=1e-6)


def test_box_iou_matrix_shape_and_symmetry() -> None:
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [100, 100, 110, 110]], dtype=np.float32)
    m = box_iou(a, a)
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert m[0, 2] == 0


def test_nms_keeps_best_and_suppresses_overlaps() -> None:
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 10]]
    scores = [0.8, 0.9, 0.5, 0.3]
    kept = nms(boxes, scores, iou_threshold=0.5)
    assert kept.tolist() == [1, 2]  # 0 and 3 overlap box 1 (IoU 0.82 and 0.82)


def test_nms_is_class_aware() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]]
    kept = nms(boxes, [0.9, 0.8, 0.7], 0.5, class_ids=[0, 1, 0])
    assert kept.tolist() == [0, 1]


def test_nms_threshold_is_strict_and_respects_max() -> None:
    # IoU exactly 1/3: kept at threshold 1/3 (only greater overlaps are suppressed), dropped below.
    boxes = [[0, 0, 10, 10], [5, 0, 15, 10]]
    assert nms(boxes, [0.9, 0.8], 50 / 150).tolist() == [0, 1]
    assert nms(boxes, [0.9, 0.8], 0.3).tolist() == [0]
    assert nms(boxes, [0.9, 0.8], 0.9, max_detections=1).tolist() == [0]


def test_nms_class_offset_survives_large_coordinates() -> None:
    # Far-apart classes and 8K coordinates: the offset must not merge or split boxes.
    boxes = [[7000, 4000, 7600, 4300], [7010, 4000, 7610, 4300], [7000, 4000, 7600, 4300]]
    kept = nms(boxes, [0.9, 0.8, 0.7], 0.5, class_ids=[79, 79, 3])
    assert kept.tolist() == [0, 2]


def test_nms_empty_and_mismatched() -> None:
    assert nms(np.zeros((0, 4)), [], 0.5).tolist() == []
    with pytest.raises(ValueError, match="scores"):
        nms([[0, 0, 1, 1]], [0.1, 0.2], 0.5)
