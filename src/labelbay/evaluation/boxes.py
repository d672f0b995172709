"""Boxes as parallel numpy arrays, and the IoU of every overlapping pair within an image.

One `BoxSet` holds one side of an evaluation (ground truth or predictions): for each box the index
of its image (0…n_images-1), of its class, its COCO `[x, y, width, height]`, its area (ground truth:
the annotation's area, which decides small/medium/large; predictions: width x height, as COCO's
`loadRes` sets it), its score (1 for ground truth) and whether it is a crowd region. Boxes keep the
order they were given in; COCO breaks ties between equal scores by that order.

For a segmentation evaluation (COCO's `iouType="segm"`) both sides also carry each region's mask
as COCO RLE (`masks`), and a pair's IoU is the masks' (`pycocotools.mask.iou`, as COCOeval
computes it); the boxes then only say which image and class a region pairs within.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]  # image and class indices: half the memory of int64
Matches = Int32s  # a ground-truth index per prediction, -1 for none
Bools = npt.NDArray[np.bool_]
Rle = dict[str, Any]  # COCO RLE: {"size": [h, w], "counts": compressed text or bytes}
PAIR_CHUNK = 1 << 16  # candidate pairs computed at a time, to keep memory flat
IMAGE_CHUNK = 1 << 15  # boxes (both sides) of the images evaluated at a time


@dataclass(frozen=True)
class BoxSet:
    image: Int32s
    category: Int32s
    xywh: Floats  # (n, 4)
    given_area: Floats | None  # None: each box's own, width x height (see `area`)
    score: Floats
    crowd: Bools
    masks: tuple[Rle, ...] | None = None  # segm: each region's RLE, as pycocotools takes it

    @classmethod
    def build(
        cls,
        *,
        image: npt.ArrayLike,
        category: npt.ArrayLike,
        xywh: npt.ArrayLike,
        area: npt.ArrayLike | None = None,
        score: npt.ArrayLike | None = None,
        crowd: npt.ArrayLike | None = None,
        masks: Sequence[Rle] | None = None,
    ) -> BoxSet:
        """A set from any array-likes; a column not given is its constant (score 1, not crowd),
        held as a broadcast view that takes no memory."""
        boxes = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        return cls(
            image=np.asarray(image, dtype=np.int32).reshape(n),
            category=np.asarray(category, dtype=np.int32).reshape(n),
            xywh=boxes,
            given_area=None if area is None else np.asarray(area, dtype=np.float64).reshape(n),
            score=np.broadcast_to(1.0, n)
            if score is None
            else np.asarray(score, dtype=np.float64).reshape(n),
            crowd=np.broadcast_to(False, n)
            if crowd is None
            else np.asarray(crowd, dtype=bool).reshape(n),
            masks=None if masks is None else tuple(masks),
        )

    @classmethod
    def empty(cls) -> BoxSet:
        return cls.build(image=[], category=[], xywh=np.zeros((0, 4)))

    @property
    def area(self) -> Floats:
        """Each box's area: the one given (ground truth: the annotation's), or its box's,
        width x height, as COCO's `loadRes` sets a prediction's. Computed when asked, so a
        million predictions do not keep a column of it."""
        if self.given_area is not None:
            return self.given_area
        area: Floats = self.xywh[:, 2] * self.xywh[:, 3]
        return area

    def __len__(self) -> int:
        return len(self.image)

    def take(self, index: Ints | Bools) -> BoxSet:
        return BoxSet(
            self.image[index],
            self.category[index],
            self.xywh[index],
            None if self.given_area is None else self.given_area[index],
            self.score[index],
            self.crowd[index],
            None
            if self.masks is None
            else tuple(self.masks[i] for i in np.arange(len(self))[index]),
        )


def image_chunks(gt: BoxSet, dt: BoxSet, *, size: int = IMAGE_CHUNK) -> Iterator[tuple[Ints, Ints]]:
    """Ground-truth and prediction indices of runs of consecutive images holding about `size`
    boxes each, in image order and each side's given order within a run. Boxes pair and match
    only within an image, so each run can be evaluated on its own: memory follows the run, not
    the whole set."""
    n_images = max(int(gt.image.max(initial=-1)), int(dt.image.max(initial=-1))) + 1
    ends = np.cumsum(np.bincount(gt.image, minlength=n_images)) + np.cumsum(
        np.bincount(dt.image, minlength=n_images)
    )
    total = int(ends[-1]) if n_images else 0
    edges = np.unique(np.r_[0, np.searchsorted(ends, np.arange(size, total, size)), n_images])
    gt_runs, dt_runs = _runs(gt.image, edges), _runs(dt.image, edges)
    yield from zip(gt_runs, dt_runs, strict=True)


def _runs(image: Int32s, edges: Ints) -> Iterator[Ints]:
    """Indices of the boxes of images edges[j]…edges[j+1]-1, for each j."""
    if np.all(image[1:] >= image[:-1]):  # as read from SQL: no order to keep
        order = None
        bounds = np.searchsorted(image, edges)
    else:
        order = np.argsort(image, kind="stable")
        bounds = np.searchsorted(image[order], edges)
    for lo, hi in itertools.pairwise(bounds.tolist()):
        yield np.arange(lo, hi) if order is None else order[lo:hi]


@dataclass(frozen=True)
class Pairs:
    """Prediction/ground-truth pairs that overlap by at least a minimum IoU."""

    dt: Int32s
    gt: Int32s
    iou: Floats


def iou_pairs(gt: BoxSet, dt: BoxSet, *, min_iou: float, by_class: bool) -> Pairs:
    """Every pair in the same image (and class, when `by_class`) with IoU >= `min_iou`.

    The IoU is COCO's (its `maskApi.c` bbIou), term for term so that ties at a threshold fall the
    same way: intersection over union, or over the prediction's own area for a crowd region.
    """
    span = max(int(gt.category.max(initial=0)), int(dt.category.max(initial=0))) + 1
    group_gt = _group_key(gt, by_class, span)
    group_dt = _group_key(dt, by_class, span)
    order = np.argsort(group_gt, kind="stable")
    sorted_keys = group_gt[order]
    start = np.searchsorted(sorted_keys, group_dt, side="left")
    count = np.searchsorted(sorted_keys, group_dt, side="right") - start
    found: list[tuple[Int32s, Int32s, Floats]] = []
    segm = gt.masks is not None and dt.masks is not None
    for dt_index, gt_index in _pair_chunks(start, count, order):
        if segm:
            iou = _mask_iou(gt, dt, gt_index, dt_index)
        else:
            iou = _iou(gt.xywh[gt_index], dt.xywh[dt_index], gt.crowd[gt_index])
        keep = iou >= min_iou
        found.append((dt_index[keep].astype(np.int32), gt_index[keep].astype(np.int32), iou[keep]))
    if not found:
        return Pairs(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    return Pairs(*(np.concatenate(column) for column in zip(*found, strict=True)))


def _group_key(boxes: BoxSet, by_class: bool, span: int) -> Ints:
    """Image, or image and class: boxes pair only within one. A class outside 0…span-1 may
    share a key with another; callers drop the pairs of such boxes."""
    image = boxes.image.astype(np.int64)
    return image * span + boxes.category if by_class else image


def _pair_chunks(start: Ints, count: Ints, order: Ints) -> Iterator[tuple[Ints, Ints]]:
    """(prediction, ground truth) index pairs, a chunk of about PAIR_CHUNK pairs at a time."""
    ends = np.cumsum(count)
    first = 0
    while first < len(count):
        last = int(np.searchsorted(ends, ends[first - 1] + PAIR_CHUNK if first else PAIR_CHUNK))
        last = min(max(last, first + 1), len(count))
        n = count[first:last]
        total = int(n.sum())
        if total:
            dt_index = np.repeat(np.arange(first, last), n)
            offsets = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
            yield dt_index, order[np.repeat(start[first:last], n) + offsets]
        first = last


def _mask_iou(gt: BoxSet, dt: BoxSet, gt_index: Ints, dt_index: Ints) -> Floats:
    """The masks' IoU of each pair (over the prediction's area for a crowd region, as
    maskApi.c's `rleIou`): one `pycocotools.mask.iou` call per image, over its regions in pairs."""
    from pycocotools import mask as coco_mask

    assert gt.masks is not None
    assert dt.masks is not None
    iou = np.zeros(len(dt_index))
    image = dt.image[dt_index]
    order = np.argsort(image, kind="stable")
    _, firsts = np.unique(image[order], return_index=True)
    for one in np.split(order, firsts[1:]):
        d, d_at = np.unique(dt_index[one], return_inverse=True)
        g, g_at = np.unique(gt_index[one], return_inverse=True)
        matrix = coco_mask.iou(
            [dt.masks[i] for i in d],
            [gt.masks[j] for j in g],
            gt.crowd[g].astype(np.uint8).tolist(),
        )
        iou[one] = np.asarray(matrix, dtype=np.float64).reshape(len(d), len(g))[d_at, g_at]
    return iou


def _iou(g: Floats, d: Floats, crowd: Bools) -> Floats:
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])
    inter = w * h
    d_area = d[:, 2] * d[:, 3]
    union = np.where(crowd, d_area, d_area + g[:, 2] * g[:, 3] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)
