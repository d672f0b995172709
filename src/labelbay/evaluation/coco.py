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
import numpy.typing as npt

from labelbay.evaluation.boxes import (
    Bools,
    BoxSet,
    Floats,
    Ints,
    Matches,
    Pairs,
    image_chunks,
    iou_pairs,
)
from labelbay.evaluation.matching import Matching, greedy_match, group_ranks

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
    """COCOeval's accumulated arrays."""

    precision: Floats  # (T, R, K, A, M), -1 where a class has no ground truth
    recall: Floats  # (T, K, A, M)
    scores: Floats  # (T, R, K, A, M)

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


@dataclass(frozen=True)
class CocoMatches:
    """How each box took part, at the chosen IoU threshold and area "all": what the report's
    counts need, and no longer than that."""

    # Per prediction given: evaluated (a known class, among the 100 best of its image and
    # class); the ground-truth index it matched or -1, and whether it is ignored (matched to a
    # crowd region).
    dt_kept: Bools
    match: Matches
    dt_ignored: Bools
    gt_counted: Bools  # ground truth that counts for area "all": a known class, not crowd


def evaluate_coco(
    gt: BoxSet, dt: BoxSet, *, n_classes: int, iou_threshold: float = 0.5
) -> tuple[CocoEval, CocoMatches]:
    """COCO's arrays, and how each prediction matched at `iou_threshold` (area "all").

    Images are matched a run at a time (`image_chunks`); what accumulation needs of each
    prediction is kept in a few bytes: its rank in its image and class, and per area its true
    and false positives at the ten thresholds as bits.
    """
    n_thr = len(IOU_THRESHOLDS)
    thresholds = IOU_THRESHOLDS
    at = np.flatnonzero(np.isclose(IOU_THRESHOLDS, iou_threshold))
    if at.size == 0:  # one more row, for the per-image counts only
        thresholds, at = np.r_[IOU_THRESHOLDS, iou_threshold], np.array([n_thr])
    gt_known = (gt.category >= 0) & (gt.category < n_classes)
    state = _PerPrediction.empty(len(dt), n_thr)
    for gt_index, dt_index in image_chunks(gt, dt):
        state.match_run(
            gt, dt, gt_index, dt_index, n_classes=n_classes, thresholds=thresholds, at=int(at[0])
        )
    rank, outcome, match, ignored = state.rank, state.outcome, state.match, state.ignored
    del state
    kept = rank < MAX_DETS[-1]
    shape = (n_thr, len(RECALL_THRESHOLDS), n_classes, len(AREA_RANGES), len(MAX_DETS))
    precision, scores = -np.ones(shape), -np.ones(shape)
    recall = -np.ones((n_thr, n_classes, len(AREA_RANGES), len(MAX_DETS)))
    for k in range(n_classes):
        one = _accumulation_order(dt, np.flatnonzero(kept & (dt.category == k)), rank)
        score, in_image = dt.score[one], rank[one]
        for a, (low, high) in enumerate(AREA_RANGES.values()):
            n_gt = int(np.count_nonzero(_counted_gt(gt, k, low, high)))
            if n_gt == 0:
                continue
            bits = outcome[a][:, :, one]
            tp, fp = (
                np.unpackbits(bits[side], axis=0, count=n_thr, bitorder="little").view(bool)
                for side in (0, 1)
            )
            for m, max_det in enumerate(MAX_DETS):
                top = in_image < max_det if max_det < MAX_DETS[-1] else slice(None)
                p, r, s = _accumulate(tp[:, top], fp[:, top], score[top], n_gt)
                precision[:, :, k, a, m], recall[:, k, a, m], scores[:, :, k, a, m] = p, r, s
    return CocoEval(precision, recall, scores), CocoMatches(
        kept, match, ignored, gt_known & ~gt.crowd
    )


@dataclass(frozen=True)
class _PerPrediction:
    """What accumulation and the report need of each prediction, filled a run of images at a
    time: its rank in its image and class (MAX_DETS[-1] when not kept), per area its true and
    false positives at the ten thresholds as bits, and at the chosen threshold (area "all") the
    ground truth it matched and whether it is ignored."""

    rank: npt.NDArray[np.uint8]
    outcome: npt.NDArray[np.uint8]  # (area, TP or FP, threshold bits, prediction)
    match: Matches
    ignored: Bools

    @classmethod
    def empty(cls, n: int, n_thr: int) -> _PerPrediction:
        return cls(
            np.full(n, MAX_DETS[-1], np.uint8),
            np.zeros((len(AREA_RANGES), 2, (n_thr + 7) // 8, n), np.uint8),
            np.full(n, -1, np.int32),
            np.zeros(n, bool),
        )

    def match_run(
        self,
        gt: BoxSet,
        dt: BoxSet,
        gt_index: Ints,
        dt_index: Ints,
        *,
        n_classes: int,
        thresholds: Floats,
        at: int,
    ) -> None:
        """Match the predictions `dt_index` of a run of images to its ground truth `gt_index`
        at every threshold and area, as COCO does."""
        n_thr = len(IOU_THRESHOLDS)
        g, d = gt.take(gt_index), dt.take(dt_index)
        gt_known = (g.category >= 0) & (g.category < n_classes)
        known = (d.category >= 0) & (d.category < n_classes)
        group = np.where(known, d.image.astype(np.int64) * n_classes + d.category, -1)
        rank, _ = group_ranks(group, d.score)
        kept = known & (rank < MAX_DETS[-1])
        self.rank[dt_index] = np.where(kept, rank, MAX_DETS[-1])
        pairs = iou_pairs(g, d, min_iou=float(thresholds.min()), by_class=True)
        both = kept[pairs.dt] & gt_known[pairs.gt]
        pairs = Pairs(pairs.dt[both], pairs.gt[both], pairs.iou[both])
        for a, (low, high) in enumerate(AREA_RANGES.values()):
            gt_ignored = g.crowd | (g.area < low) | (g.area > high)
            matching = greedy_match(
                pairs,
                dt_rank=rank,
                n_dt=len(d),
                n_gt=len(g),
                thresholds=thresholds if a == 0 else IOU_THRESHOLDS,
                preferred=~gt_ignored,
                reusable=g.crowd,
                flagged=gt_ignored,
                index_row=at if a == 0 else 0,
            )
            tp, fp = _outcomes(matching, (d.area < low) | (d.area > high))
            if a == 0:
                found = kept & (matching.index >= 0)
                self.match[dt_index[found]] = gt_index[matching.index[found]]
                self.ignored[dt_index] = ~(tp[at] | fp[at])
            for side, flags in enumerate((tp, fp)):
                bits = np.packbits(flags[:n_thr], axis=0, bitorder="little")
                self.outcome[a, side][:, dt_index] = bits


def _accumulation_order(dt: BoxSet, index: Ints, rank: npt.NDArray[np.uint8]) -> Ints:
    """A class's predictions as COCO accumulates them: descending score, then image, then rank
    in the image."""
    return index[np.lexsort((rank[index], dt.image[index], -dt.score[index]))]


def _counted_gt(gt: BoxSet, k: int, low: float, high: float) -> Bools:
    """Ground truth of class `k` that is not ignored in area range low…high."""
    counted: Bools = (gt.category == k) & ~gt.crowd & (gt.area >= low) & (gt.area <= high)
    return counted


def _outcomes(matching: Matching, outside: Bools) -> tuple[Bools, Bools]:
    """True and false positives per threshold; a prediction matched to an ignored box, or
    unmatched with its area outside the range, is neither. In place, to keep memory down."""
    matched, ignored = matching.matched, matching.to_flagged
    unmatched = np.logical_not(matched)
    ignored |= unmatched & outside[None, :]
    np.logical_not(ignored, out=ignored)  # now: counted
    matched &= ignored
    unmatched &= ignored
    return matched, unmatched


def _accumulate(
    tp_flags: Bools, fp_flags: Bools, score: Floats, n_gt: int
) -> tuple[Floats, Floats, Floats]:
    """One class, area and max-dets: precision and score at each recall point, and the recall
    reached, per IoU threshold (one row at a time: a class's predictions can be many).
    Predictions are in accumulation order."""
    n_thr, n = tp_flags.shape
    precision = np.zeros((n_thr, len(RECALL_THRESHOLDS)))
    at_score = np.zeros_like(precision)
    recall = np.zeros(n_thr)
    if n == 0:
        return precision, recall, at_score
    for t in range(n_thr):
        tp = np.cumsum(tp_flags[t], dtype=np.int32).astype(np.float64)
        fp = np.cumsum(fp_flags[t], dtype=np.int32).astype(np.float64)
        rc = tp / n_gt
        pr = tp / (fp + tp + np.spacing(1))
        envelope = np.maximum.accumulate(pr[::-1])[::-1]
        where = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        reached = where < n
        precision[t, reached] = envelope[where[reached]]
        at_score[t, reached] = score[where[reached]]
        recall[t] = rc[-1]
    return precision, recall, at_score
