"""Greedy matching of predictions to ground truth, for every group and IoU threshold at once.

COCO matches each image and class on its own: predictions in descending score, each taking the
still-free ground-truth box it overlaps most (IoU >= the threshold), preferring boxes that are not
ignored. That is sequential within a group but independent across groups, so the loop here runs
over *ranks* instead of groups: round r matches the r-th prediction of every group at once, for
every threshold at once. There are at most max-detections rounds, each a few numpy operations over
the candidate pairs of that rank, however many images there are.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from labelbay.evaluation.boxes import Bools, Floats, Int32s, Ints, Matches, Pairs


def group_ranks(group: Ints, score: Floats) -> tuple[Int32s, Ints]:
    """Each box's rank within its group by descending score (ties: given order), and the order
    that sorts boxes by (group, rank)."""
    by_score = np.argsort(-score, kind="stable")
    order = by_score[np.argsort(group[by_score], kind="stable")]
    del by_score
    sorted_group = group[order]
    first = np.r_[True, sorted_group[1:] != sorted_group[:-1]] if len(order) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.empty(len(order), np.int32)
    rank[order] = position
    return rank, order


@dataclass(frozen=True)
class Matching:
    """Per threshold and prediction: matched, and matched to a `flagged` box; and at one
    threshold the ground-truth index each prediction took (-1 for none). Two bools a prediction
    per threshold instead of an index: a quarter of the memory."""

    matched: Bools  # (T, n_dt)
    to_flagged: Bools  # (T, n_dt)
    index: Matches  # (n_dt,) at `index_row`


def greedy_match(
    pairs: Pairs,
    *,
    dt_rank: Int32s,
    n_dt: int,
    n_gt: int,
    thresholds: Floats,
    preferred: Bools,
    reusable: Bools,
    flagged: Bools | None = None,
    index_row: int = 0,
) -> Matching:
    """Each prediction's match at each threshold.

    `preferred[gt]` boxes are taken before any other (COCO: the boxes that are not ignored);
    among those, the highest IoU, and on equal IoU the later box (COCO's `<` comparison).
    A `reusable` box (a crowd region) may be matched by any number of predictions.
    """
    n_thr = len(thresholds)
    out = Matching(
        np.zeros((n_thr, n_dt), bool), np.zeros((n_thr, n_dt), bool), np.full(n_dt, -1, np.int32)
    )
    if len(pairs.dt) == 0:
        return out
    rank = dt_rank[pairs.dt]
    # Sorted by rank, then prediction, then preference ascending: a prediction's choice is its
    # last valid pair.
    order = np.lexsort((pairs.gt, pairs.iou, preferred[pairs.gt], pairs.dt, rank))
    dt, gt = pairs.dt[order], pairs.gt[order]
    iou, rank = pairs.iou[order], rank[order]
    del order
    bounds = np.flatnonzero(np.r_[True, rank[1:] != rank[:-1], True])
    used = np.zeros((n_thr, n_gt), bool)
    limit = np.minimum(thresholds, 1 - 1e-10)
    for lo, hi in itertools.pairwise(bounds):
        d, g, free = dt[lo:hi], gt[lo:hi], reusable[gt[lo:hi]]
        for t in range(n_thr):
            valid = np.flatnonzero((iou[lo:hi] >= limit[t]) & (free | ~used[t, g]))
            if len(valid) == 0:
                continue
            valid = valid[np.r_[d[valid[1:]] != d[valid[:-1]], True]]  # each prediction's last
            took, what = d[valid], g[valid]
            out.matched[t, took] = True
            if flagged is not None:
                out.to_flagged[t, took] = flagged[what]
            if t == index_row:
                out.index[took] = what
            used[t, what] = True
    return out
