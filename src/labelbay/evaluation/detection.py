"""A detection model's whole report: COCO metrics, precision/recall/F1, PR curves, a confusion
matrix and per-image TP/FP/FN, from two `BoxSet`s.

Beyond COCO's numbers (see `coco`), at one IoU threshold (0.5 unless chosen):
- a prediction is a true positive when it matches a ground-truth box of its class (COCO's greedy
  matching, at most 100 predictions per image and class), a false positive when it matches none;
  ground truth no prediction matched is a false negative. Crowd regions count for neither side.
- precision, recall and F1 over all classes at the model's score threshold and at the threshold
  where F1 is best; the same per class.
- the confusion matrix matches across classes (each image's predictions by descending score take
  the free ground-truth box they overlap most): rows are ground-truth classes, columns predicted
  classes, and the last row and column are "background" (a prediction on nothing; a box missed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from labelbay.evaluation.boxes import (
    Bools,
    BoxSet,
    Floats,
    Int32s,
    Ints,
    Pairs,
    image_chunks,
    iou_pairs,
)
from labelbay.evaluation.coco import RECALL_THRESHOLDS, CocoEval, evaluate_coco
from labelbay.evaluation.matching import greedy_match, group_ranks


@dataclass(frozen=True)
class DetectionReport:
    classes: list[str]
    n_images: int
    iou_threshold: float
    score_threshold: float
    coco: CocoEval
    dt_status: npt.NDArray[
        np.int8
    ]  # per prediction given: 1 TP, 0 FP, -1 not counted (below threshold, dropped)
    gt_missed: Bools  # per ground-truth box given: no prediction above the threshold matched it
    image_tp: Ints
    image_fp: Ints
    image_fn: Ints
    confusion: Ints  # (K + 1, K + 1)
    # (n, 4) parts in image order: image, ground-truth class, predicted class, boxes; K is
    # background
    image_cells: list[Int32s]
    counts: dict[str, Any]  # the P/R/F1 block, over all classes and per class

    def classes_present(self) -> Ints:
        """Classes with ground truth that the model predicted at least once."""
        has_gt = self.counts["per_class_gt"] > 0
        return np.flatnonzero(has_gt & (self.counts["per_class_dt"] > 0))

    def to_json(self) -> dict[str, Any]:
        present = self.classes_present()
        summary = self.coco.summary()
        per_class = []
        for k, name in enumerate(self.classes):
            curve = self.coco.precision[0, :, k, 0, 2]
            per_class.append(
                {
                    "name": name,
                    "ground_truth": int(self.counts["per_class_gt"][k]),
                    "predictions": int(self.counts["per_class_dt"][k]),
                    **self.coco.per_class(k),
                    **self.counts["per_class"][k],
                    "pr_curve": None
                    if curve[0] < 0
                    else {
                        "recall": RECALL_THRESHOLDS.round(2).tolist(),
                        "precision": curve.round(6).tolist(),
                        "score": self.coco.scores[0, :, k, 0, 2].round(6).tolist(),
                    },
                }
            )
        return {
            "kind": "detection",
            "images": self.n_images,
            "iou_threshold": self.iou_threshold,
            "score_threshold": self.score_threshold,
            **summary,
            "mean_over": "all classes with ground truth (as COCOeval)",
            "classes_present": [self.classes[k] for k in present],
            "present": self.coco.summary(classes=present),
            **{key: self.counts[key] for key in ("at_threshold", "best_f1")},
            "per_class": per_class,
            "confusion": {
                "labels": [*self.classes, "background"],
                "rows": "ground truth",
                "columns": "prediction",
                "matrix": self.confusion.tolist(),
            },
        }


def evaluate_detections(
    gt: BoxSet,
    dt: BoxSet,
    *,
    classes: list[str],
    n_images: int,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
) -> DetectionReport:
    k = len(classes)
    coco, matches = evaluate_coco(gt, dt, n_classes=k, iou_threshold=iou_threshold)
    counted = matches.dt_kept & ~matches.dt_ignored  # per prediction given
    tp = counted & (matches.match >= 0)
    above = dt.score >= score_threshold
    keep = counted & above
    matched_gt = np.zeros(len(gt), bool)
    matched_gt[matches.match[tp & above]] = True
    gt_counted = matches.gt_counted
    del matches  # 6 bytes a prediction, not needed for the confusion matrix
    gt_missed = gt_counted & ~matched_gt

    dt_status = np.full(len(dt), -1, np.int8)
    dt_status[keep] = tp[keep]
    gt_per_class = np.bincount(gt.category[gt_counted], minlength=k)
    counts: dict[str, Any] = {
        "per_class_gt": gt_per_class,
        "per_class_dt": np.bincount(dt.category[counted], minlength=k),
        "at_threshold": _prf(
            np.count_nonzero(keep & tp), np.count_nonzero(keep & ~tp), gt_per_class.sum()
        ),
        "best_f1": _best_f1(dt.score[counted], tp[counted], int(gt_per_class.sum())),
        "per_class": [],
    }
    for c in range(k):
        mine = counted & (dt.category == c)
        hit = tp & mine
        n_gt = int(gt_per_class[c])
        counts["per_class"].append(
            {
                "at_threshold": _prf(
                    np.count_nonzero(hit & above), np.count_nonzero(mine & ~hit & above), n_gt
                ),
                "best_f1": _best_f1(dt.score[mine], hit[mine], n_gt),
            }
        )
    del counted, above, matched_gt
    confusion, image_cells = confusion_cells(
        gt,
        dt,
        n_classes=k,
        iou_threshold=iou_threshold,
        gt_mask=gt_counted,
        dt_mask=(dt.score >= score_threshold) & (dt.category >= 0) & (dt.category < k),
    )
    return DetectionReport(
        classes=list(classes),
        n_images=n_images,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        coco=coco,
        dt_status=dt_status,
        gt_missed=gt_missed,
        image_tp=np.bincount(dt.image[keep & tp], minlength=n_images),
        image_fp=np.bincount(dt.image[keep & ~tp], minlength=n_images),
        image_fn=np.bincount(gt.image[gt_missed], minlength=n_images),
        confusion=confusion,
        image_cells=image_cells,
        counts=counts,
    )


def confusion_cells(
    gt: BoxSet,
    dt: BoxSet,
    *,
    n_classes: int,
    iou_threshold: float,
    gt_mask: Bools,
    dt_mask: Bools,
) -> tuple[Ints, list[Int32s]]:
    """The confusion matrix, and the count of each (image, row, column) that occurs, sorted, in
    parts: a run of images at a time (`image_chunks`), never all twice."""
    size = n_classes + 1
    matrix = np.zeros((size, size), np.int64)
    cells: list[Int32s] = []
    for gt_index, dt_index in image_chunks(gt, dt):
        entries = confusion_entries(
            gt.take(gt_index),
            dt.take(dt_index),
            n_classes=n_classes,
            iou_threshold=iou_threshold,
            gt_mask=gt_mask[gt_index],
            dt_mask=dt_mask[dt_index],
        )
        part, run_cells = _tally(entries, n_classes=n_classes)
        matrix += part
        cells.append(run_cells)
    return matrix, cells


def confusion_entries(
    gt: BoxSet,
    dt: BoxSet,
    *,
    n_classes: int,
    iou_threshold: float,
    gt_mask: Bools,
    dt_mask: Bools,
) -> tuple[Ints, Ints, Ints]:
    """(image, row, column) of every box's place in the confusion matrix: rows ground truth,
    columns predictions, the last of each "background"; only the boxes in the masks take part."""
    rank, _ = group_ranks(dt.image.astype(np.int64), dt.score)
    pairs = iou_pairs(gt, dt, min_iou=iou_threshold, by_class=False)
    both = dt_mask[pairs.dt] & gt_mask[pairs.gt]
    match = greedy_match(
        Pairs(pairs.dt[both], pairs.gt[both], pairs.iou[both]),
        dt_rank=rank,
        n_dt=len(dt),
        n_gt=len(gt),
        thresholds=np.array([iou_threshold]),
        preferred=np.ones(len(gt), bool),
        reusable=np.zeros(len(gt), bool),
    ).index
    background = n_classes
    matched = match >= 0
    found = np.zeros(len(gt), bool)
    found[match[matched]] = True
    missed = gt_mask & ~found
    rows = np.r_[
        np.r_[gt.category, background][match][dt_mask],  # -1 (no match) reads background
        gt.category[missed],
    ]
    cols = np.r_[dt.category[dt_mask], np.full(int(missed.sum()), background)]
    images = np.r_[dt.image[dt_mask], gt.image[missed]].astype(np.int64)
    return images, rows.astype(np.int64), cols.astype(np.int64)


def _tally(entries: tuple[Ints, Ints, Ints], *, n_classes: int) -> tuple[Ints, Int32s]:
    """The confusion matrix, and the count of each (image, row, column) that occurs."""
    images, rows, cols = entries
    size = n_classes + 1
    cell = rows * size + cols
    matrix = np.bincount(cell, minlength=size * size).reshape(size, size)
    keys, counts = np.unique(images * (size * size) + cell, return_counts=True)
    image, cell = np.divmod(keys, size * size)
    return matrix, np.stack([image, cell // size, cell % size, counts], axis=1).astype(np.int32)


def _prf(tp: Any, fp: Any, n_gt: Any) -> dict[str, float | int]:
    tp, fp, n_gt = int(tp), int(fp), int(n_gt)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_gt if n_gt else 0.0
    f1 = 2 * tp / (2 * tp + fp + (n_gt - tp)) if tp + fp + n_gt else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": n_gt - tp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _best_f1(score: Floats, tp: Bools, n_gt: int) -> dict[str, float | int]:
    """The score threshold (one of the predictions' scores) at which F1 is highest. Counts are
    taken after the last of equal scores, so the order among equal scores does not matter."""
    if len(score) == 0:
        return {"threshold": 1.0, **_prf(0, 0, n_gt)}
    order = np.argsort(score)[::-1]  # descending
    s, hit = score[order], tp[order]
    del order
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # of each run of equal scores
    tp_at = np.cumsum(np.add.reduceat(hit, first, dtype=np.int64))  # after each run
    n_at = np.r_[first[1:], len(s)]  # predictions (tp + fp) after each run
    f1 = 2 * tp_at / (n_at + n_gt)
    best = int(np.argmax(f1))
    tps, n = int(tp_at[best]), int(n_at[best])
    return {"threshold": float(s[first[best]]), **_prf(tps, n - tps, n_gt)}
