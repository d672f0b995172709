"""Box geometry as small pure numpy functions: conversions, IoU, class-aware NMS, clipping.

Boxes are float arrays of shape (N, 4). Every function is vectorised over rows and returns a new array.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.int64]


def _as_boxes(boxes: npt.ArrayLike) -> FloatArray:
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def xyxy_to_xywh(boxes: npt.ArrayLike) -> FloatArray:
    """Corners to top-left + size (the COCO box layout)."""
    out = _as_boxes(boxes).copy()
    out[:, 2:] -= out[:, :2]
    return out


def xywh_to_xyxy(boxes: npt.ArrayLike) -> FloatArray:
    out = _as_boxes(boxes).copy()
    out[:, 2:] += out[:, :2]
    return out


def cxcywh_to_xyxy(boxes: npt.ArrayLike) -> FloatArray:
    """Centre + size (YOLO and DETR outputs) to corners."""
    b = _as_boxes(boxes)
    half = b[:, 2:] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def xyxy_to_cxcywh(boxes: npt.ArrayLike) -> FloatArray:
    b = _as_boxes(boxes)
    size = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] + size / 2, size], axis=1)


def clip_boxes(boxes: npt.ArrayLike, width: float, height: float) -> FloatArray:
    """Clamp corners into the image `[0, width] x [0, height]`."""
    out = _as_boxes(boxes).copy()
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def box_area(boxes: npt.ArrayLike) -> FloatArray:
    b = _as_boxes(boxes)
    wh = np.clip(b[:, 2:] - b[:, :2], 0, None)
    return np.asarray(wh[:, 0] * wh[:, 1], dtype=np.float32)


def box_iou(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> FloatArray:
    """IoU matrix of shape (len(a), len(b)); empty or degenerate pairs give 0, never NaN."""
    a = _as_boxes(boxes_a)
    b = _as_boxes(boxes_b)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    intersection = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - intersection
    # Where union is 0 both boxes are empty: their IoU is 0, and dividing would warn.
    safe_union = np.where(union > 0, union, 1.0)
    return np.where(union > 0, intersection / safe_union, 0.0).astype(np.float32)


def nms(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    iou_threshold: float,
    class_ids: npt.ArrayLike | None = None,
    max_detections: int | None = None,
) -> IndexArray:
    """Indices of the boxes kept by greedy NMS, best score first.

    With `class_ids`, suppression is per class: each class's boxes are shifted by a class-specific
    offset larger than any coordinate, so boxes of different classes never overlap and one pass
    handles all classes. A box is dropped when its IoU with a kept, higher-scoring box is greater than
    `iou_threshold`.
    """
    # float64: class offsets make coordinates large, and float32 would round them visibly.
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(b) != len(s):
        raise ValueError(f"{len(b)} boxes but {len(s)} scores")
    if len(b) == 0:
        return np.zeros(0, dtype=np.int64)
    if class_ids is not None:
        ids = np.asarray(class_ids, dtype=np.float64).reshape(-1)
        # The span covers every coordinate (including negative ones), so shifted classes are disjoint.
        span = float(np.abs(b).max()) * 2 + 1
        b = b + (ids * span)[:, None]
    limit = len(b) if max_detections is None else max_detections
    # Stable sort keeps equal scores in input order, so results are deterministic.
    order = np.argsort(-s, kind="stable")
    b = b[order]
    areas = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    suppressed = np.zeros(len(b), dtype=bool)
    kept: list[int] = []
    for i in range(len(b)):
        if suppressed[i]:
            continue
        kept.append(i)
        if len(kept) >= limit:
            break
        rest = slice(i + 1, None)
        top_left = np.maximum(b[i, :2], b[rest, :2])
        bottom_right = np.minimum(b[i, 2:], b[rest, 2:])
        wh = np.clip(bottom_right - top_left, 0, None)
        intersection = wh[:, 0] * wh[:, 1]
        union = areas[i] + areas[rest] - intersection
        iou = np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)
        suppressed[rest] |= iou > iou_threshold
    return order[np.asarray(kept, dtype=np.int64)].astype(np.int64)
