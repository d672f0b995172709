"""How much two sets of labels agree, and a consensus of several: pure functions over `Label`s.

Used for annotator agreement (people's labels of one image) and for model disagreement (two model
versions' labels of one image); no SQL here.

- `match_f1`: labels are matched one to one, greedily by IoU (highest first; equal IoUs by the
  order the labels come in), a pair counting only when its IoU is at least the threshold and its
  classes are equal. F1 = 2 * matches / (|a| + |b|); two empty sets agree fully (1.0). A
  classification (no geometry) matches one of the other side's classifications with equal class,
  as if its IoU were 1.
- `cohen_kappa` (two raters) and `krippendorff_alpha` (nominal, any number of raters, missing
  ratings allowed): chance-corrected agreement on image classes, from their definitions.
- `consensus`: boxes clustered by IoU, each cluster's majority class, its averaged coordinates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Generic, TypeVar

from labelbay.labels import Box, Label, make

DEFAULT_IOU = 0.5
R = TypeVar("R", bound=Hashable)  # a rater: a user id, a model version


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def label_iou(a: Label, b: Label) -> float:
    """IoU of the labels' boxes; 1.0 for two classifications, 0.0 for a box and a class."""
    box_a, box_b = a.box, b.box
    if box_a is None or box_b is None:
        return 1.0 if box_a is None and box_b is None else 0.0
    return box_iou(box_a, box_b)


def matches(a: Sequence[Label], b: Sequence[Label], *, iou: float = DEFAULT_IOU) -> int:
    """How many one-to-one pairs of equal class and IoU >= `iou` greedy matching finds."""
    pairs = [
        (overlap, i, j)
        for i, x in enumerate(a)
        for j, y in enumerate(b)
        if x.label == y.label and (overlap := label_iou(x, y)) >= iou and overlap > 0
    ]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    for _, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a)


def match_f1(a: Sequence[Label], b: Sequence[Label], *, iou: float = DEFAULT_IOU) -> float:
    """F1 of the matched labels: 1.0 identical, 0.0 nothing in common (see the module text)."""
    if not a and not b:
        return 1.0
    return 2 * matches(a, b, iou=iou) / (len(a) + len(b))


@dataclass(frozen=True)
class Agreement(Generic[R]):
    """Mean pairwise F1 over every pair of raters, and each rater's mean F1 with the others."""

    mean_f1: float
    per_rater: dict[R, float]
    pairs: dict[tuple[R, R], float]


def pairwise_agreement(
    by_rater: Mapping[R, Sequence[Label]], *, iou: float = DEFAULT_IOU
) -> Agreement[R] | None:
    """Agreement among two or more raters' labels of one image; None with fewer than two."""
    raters = list(by_rater)
    if len(raters) < 2:
        return None
    pairs = {
        (x, y): match_f1(by_rater[x], by_rater[y], iou=iou) for x, y in combinations(raters, 2)
    }
    per_rater = {
        r: sum(f1 for pair, f1 in pairs.items() if r in pair) / (len(raters) - 1) for r in raters
    }
    return Agreement(mean_f1=sum(pairs.values()) / len(pairs), per_rater=per_rater, pairs=pairs)


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' classes for the same items: (p_o - p_e) / (1 - p_e), with p_o
    the observed agreement and p_e the chance agreement from each rater's class frequencies.
    1.0 when both always agree on a single class (p_e = 1); None for no items."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for x, y in pairs if x == y) / n
    first, second = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected == 1.0:
        return 1.0
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Sequence[Sequence[str]]) -> float | None:
    """Krippendorff's alpha for nominal data: 1 - D_o / D_e from the coincidence matrix. Each unit
    is the classes its raters gave (any number; units with fewer than two ratings are not
    pairable and are left out). None when fewer than two pairable values exist; 1.0 when every
    value is the same class (no disagreement is possible)."""
    coincidence: dict[tuple[str, str], float] = {}
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, x in enumerate(values):
            for j, y in enumerate(values):
                if i != j:
                    coincidence[(x, y)] = coincidence.get((x, y), 0.0) + 1 / (m - 1)
    n_c: dict[str, float] = {}
    for (x, _), weight in coincidence.items():
        n_c[x] = n_c.get(x, 0.0) + weight
    n = sum(n_c.values())
    if n < 2:
        return None
    observed = sum(w for (x, y), w in coincidence.items() if x != y)
    expected = (n * n - sum(v * v for v in n_c.values())) / (n - 1)
    if expected == 0:
        return 1.0
    return 1 - observed / expected


def consensus(by_rater: Mapping[R, Sequence[Label]], *, iou: float = DEFAULT_IOU) -> list[Label]:
    """One set of labels from several raters' labels of an image.

    Boxes (any label with a box: its box is what counts) are clustered greedily: raters in the
    order given, each one's labels in their order; a label joins the cluster whose mean box it
    overlaps most (IoU >= `iou`) among clusters without a label of its rater yet, else starts a
    new cluster. A cluster that at least half of the raters contributed to (>= n/2) becomes a box
    with the members' averaged coordinates and their majority class; a tie goes to the class
    whose first vote came first. Classifications: the majority class over the raters who gave
    one, the same tie rule, kept when at least half of all raters gave a class.
    """
    raters = list(by_rater)
    needed = len(raters) / 2
    clusters: list[list[tuple[R, Label, Box]]] = []
    votes: list[str] = []
    for rater in raters:
        for label in by_rater[rater]:
            box = label.box
            if box is None:
                votes.append(label.label)
                continue
            best, best_iou = None, 0.0
            for cluster in clusters:
                if any(member[0] == rater for member in cluster):
                    continue
                overlap = box_iou(_mean_box(cluster), box)
                if overlap >= iou and overlap > best_iou:
                    best, best_iou = cluster, overlap
            if best is None:
                clusters.append([(rater, label, box)])
            else:
                best.append((rater, label, box))
    merged: list[Label] = []
    for cluster in clusters:
        if len(cluster) >= needed:
            x1, y1, x2, y2 = _mean_box(cluster)
            geometry = {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
            merged.append(make("box", _majority([m[1].label for m in cluster]), geometry))
    if votes and len(votes) >= needed:
        merged.append(make("classification", _majority(votes)))
    return merged


def _mean_box(cluster: Sequence[tuple[Hashable, Label, Box]]) -> Box:
    n = len(cluster)
    x1, y1, x2, y2 = (sum(member[2][k] for member in cluster) / n for k in range(4))
    return (x1, y1, x2, y2)


def _majority(classes: Sequence[str]) -> str:
    """The most frequent class; a tie goes to the one whose first vote came first."""
    counts = Counter(classes)
    top = max(counts.values())
    return next(c for c in classes if counts[c] == top)
