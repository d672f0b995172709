"""COCO's bbox evaluation, with COCO's definitions, over whole arrays instead of per-image loops.

The same steps as `pycocotools.cocoeval.COCOeval` (`iouType="bbox"`, `useCats=1`):
- per image and class, predictions by descending score, at most 100 kept;
- ground truth is ignored when it is a crowd region or its `area` is outside the area range
  (all, small < 32², medium 32² to 96², large > 96²); a prediction matched to an ignored box, or
  unmatched with its own area outside the range, is ignored too;
- greedy matching at IoU thresholds .50:.05:.95 (see `matching`);
- per class, area range and max-detections (1, 10, 100): predictions of all images sorted by
  descending score (ties: image order, then order within the image), cumulative TP and FP, the
  precision envelope read at 101 recall points; a class without unignored ground truth is -1;
- the 12 summary numbers are means over the values that are not -1.

Images are indices 0…n-1, in the order COCO sorts its image ids; classes are indices 0…K-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelbay.evaluation.boxes import Bools, BoxSet, Floats, Ints, Matches, iou_pairs
from labelbay.evaluation.matching import greedy_match, group_ranks

IOU_THRESHOLDS: Floats = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
RECALL_THRESHOLDS: Floats = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1)
MAX_DETS = (1, 10, 100)
AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
# (name, AP or AR, IoU index or None for the mean over thresholds, area, max-dets index)
SUMMARY: tuple[tuple[str, str, int | None, str, int], ...] = (
    ("map", "ap", None, "all", 2),
    ("ap50", "ap", 0, "all", 2),
    ("ap75", "ap", 5, "all", 2),
    ("ap_small", "ap", None, "small", 2),
    ("ap_medium", "ap", None, "medium", 2),
    ("ap_large", "ap", None, "large", 2),
    ("ar1", "ar", None, "all", 0),
    ("ar10", "ar", None, "all", 1),
    ("ar100", "ar", None, "all", 2),
    ("ar_small", "ar", None, "small", 2),
    ("ar_medium", "ar", None, "medium", 2),
    ("ar_large", "ar", None, "large", 2),
)


@dataclass(frozen=True)
class CocoEval:
    """COCOeval's accumulated arrays, and how each kept prediction matched (area "all")."""

    precision: Floats  # (T, R, K, A, M), -1 where a class has no ground truth
    recall: Floats  # (T, K, A, M)
    scores: Floats  # (T, R, K, A, M)
    dt: BoxSet  # the predictions evaluated (at most 100 per image and class)
    dt_kept: Ints  # their indices in the predictions given
    match: Matches  # (T, n_dt) ground-truth index or -1, area "all"
    dt_ignored: Bools  # (T, n_dt), area "all": matched to a crowd region
    gt_counted: Bools  # ground truth that counts (not crowd) for area "all"

    def summary(self, *, classes: Ints | None = None) -> dict[str, float]:
        """The 12 COCO numbers; over `classes` only when given (COCO: every class)."""
        return {name: self._mean(kind, t, area, m, classes) for name, kind, t, area, m in SUMMARY}

    def per_class(self, k: int) -> dict[str, float]:
        one = np.array([k])
        return {
            "ap": self._mean("ap", None, "all", 2, one),
            "ap50": self._mean("ap", 0, "all", 2, one),
            "ap75": self._mean("ap", 5, "all", 2, one),
            "ar100": self._mean("ar", None, "all", 2, one),
        }

    def _mean(self, kind: str, t: int | None, area: str, m: int, classes: Ints | None) -> float:
        a = list(AREA_RANGES).index(area)
        if kind == "ap":
            values = self.precision[:, :, :, a, m]
            values = values[:, :, classes] if classes is not None else values
        else:
            values = self.recall[:, :, a, m]
            values = values[:, classes] if classes is not None else values
        if t is not None:
            values = values[t]
        counted = values[values > -1]
        return float(counted.mean()) if counted.size else -1.0


def evaluate_coco(gt: BoxSet, dt: BoxSet, *, n_classes: int) -> CocoEval:
    known = (dt.category >= 0) & (dt.category < n_classes)
    gt = gt.take((gt.category >= 0) & (gt.category < n_classes))
    group = dt.image * n_classes + dt.category
    rank, _ = group_ranks(np.where(known, group, -1), dt.score)
    dt_kept = np.flatnonzero(known & (rank < MAX_DETS[-1]))
    dt = dt.take(dt_kept)
    rank = rank[dt_kept]
    pairs = iou_pairs(gt, dt, min_iou=float(IOU_THRESHOLDS[0]), by_class=True)
    # predictions in accumulation order: class, descending score, image, rank within the image
    order = np.lexsort((rank, dt.image, -dt.score, dt.category))
    bounds = np.searchsorted(dt.category[order], np.arange(n_classes + 1))
    shape_t = (len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), n_classes)
    precision = -np.ones((*shape_t, len(AREA_RANGES), len(MAX_DETS)))
    scores = -np.ones_like(precision)
    recall = -np.ones((len(IOU_THRESHOLDS), n_classes, len(AREA_RANGES), len(MAX_DETS)))
    kept: tuple[Matches, Bools, Bools] | None = None
    for a, (low, high) in enumerate(AREA_RANGES.values()):
        gt_ignored = gt.crowd | (gt.area < low) | (gt.area > high)
        match = greedy_match(
            pairs,
            dt_rank=rank,
            n_dt=len(dt),
            n_gt=len(gt),
            thresholds=IOU_THRESHOLDS,
            preferred=~gt_ignored,
            reusable=gt.crowd,
        )
        matched = match >= 0
        outside = (dt.area < low) | (dt.area > high)
        dt_ignored = np.where(matched, gt_ignored[np.maximum(match, 0)], outside[None, :])
        counted = np.bincount(gt.category[~gt_ignored], minlength=n_classes)
        for k in range(n_classes):
            if counted[k] == 0:
                continue
            index = order[bounds[k] : bounds[k + 1]]
            for m, max_det in enumerate(MAX_DETS):
                chosen = index[rank[index] < max_det]
                p, r, s = _accumulate(
                    matched[:, chosen], dt_ignored[:, chosen], dt.score[chosen], int(counted[k])
                )
                precision[:, :, k, a, m], recall[:, k, a, m], scores[:, :, k, a, m] = p, r, s
        if a == 0:
            kept = (match, dt_ignored, ~gt_ignored)
        del match, matched, dt_ignored
    assert kept is not None
    return CocoEval(precision, recall, scores, dt, dt_kept, *kept)


def _accumulate(
    matched: Bools, ignored: Bools, score: Floats, n_gt: int
) -> tuple[Floats, Floats, Floats]:
    """One class, area and max-dets: precision and score at each recall point, and the recall
    reached, per IoU threshold. Predictions are in accumulation order."""
    n_thr, n = matched.shape
    tp = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
    fp = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
    precision = np.zeros((n_thr, len(RECALL_THRESHOLDS)))
    at_score = np.zeros_like(precision)
    if n == 0:
        return precision, np.zeros(n_thr), at_score
    rc = tp / n_gt
    pr = tp / (fp + tp + np.spacing(1))
    envelope = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    for t in range(n_thr):
        where = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
        reached = where < n
        precision[t, reached] = envelope[t, where[reached]]
        at_score[t, reached] = score[where[reached]]
    return precision, rc[:, -1], at_score
