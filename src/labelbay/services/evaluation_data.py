"""A project's labels read from SQL, page by page, into the arrays `labelbay.evaluation` takes.

Images are walked in keyset pages with the image list's filters; an image counts when the model
version under evaluation has a prediction row for it (it was run there, even if it found
nothing). Each page's predictions and ground truth are read with one query each and turned into
small arrays at once, so memory holds one page of rows, plus the arrays: about 60 bytes a box.
Stored labels are read back as `labelbay.labels.Label`s; a box is `Label.box_in` (a circle is its
square clipped to the image), the area of ground truth `Label.area_in`, as the COCO export writes.
With `masks` (a segmentation evaluation) each label's mask is kept too (`Label.mask_in`, as RLE:
memory grows with the runs, not the pixels).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelbay.db.models import Annotation, Image, Prediction
from labelbay.evaluation.boxes import BoxSet, Int32s, Ints
from labelbay.labels import Label
from labelbay.services.annotations import label_of
from labelbay.services.images import ImageFilter, image_conditions, list_images

GroundTruth = Literal["reviewed", "annotations", "model"]
PAGE_SIZE = 250  # images a page; its labels as objects are ~8 MiB at 10 a image
TOP = 5  # classes kept per image for top-5 accuracy
# A label of the ground truth: an annotation id, or a detection index of the other model's row.
Ref = int


@dataclass
class Classes:
    """Class names to indices: the project's label set first, then names as they are met."""

    names: list[str]
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {name: i for i, name in enumerate(self.names)}

    def of(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]


class ImageIds:
    """Image ids in one buffer of 16 bytes each. A list of 100k `UUID` objects would pin the
    memory of every page's freed labels around them (~1 KiB an image in practice)."""

    def __init__(self) -> None:
        self._bytes = bytearray()

    def append(self, image_id: uuid.UUID) -> None:
        self._bytes += image_id.bytes

    def __len__(self) -> int:
        return len(self._bytes) // 16

    def __iter__(self) -> Iterator[uuid.UUID]:
        for start in range(0, len(self._bytes), 16):
            yield uuid.UUID(bytes=bytes(self._bytes[start : start + 16]))


@dataclass
class Collected:
    """What was read: images in order, boxes of both sides (detection), or each image's true
    class and the model's ranked classes (classification)."""

    image_ids: ImageIds = field(default_factory=ImageIds)
    gt: BoxSet = field(default_factory=BoxSet.empty)
    gt_ref: Int32s = field(default_factory=lambda: np.zeros(0, np.int32))
    dt: BoxSet = field(default_factory=BoxSet.empty)
    dt_index: Int32s = field(default_factory=lambda: np.zeros(0, np.int32))
    truth: Ints = field(default_factory=lambda: np.zeros(0, np.int64))
    ranked: Ints = field(default_factory=lambda: np.zeros((0, TOP), np.int64))


@dataclass
class _Page:
    image: list[int] = field(default_factory=list)
    category: list[int] = field(default_factory=list)
    xywh: list[tuple[float, float, float, float]] = field(default_factory=list)
    area: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    ref: list[int] = field(default_factory=list)
    masks: list[dict[str, Any]] | None = None

    def add(
        self,
        image: int,
        category: int,
        label: Label,
        size: tuple[int, int],
        ref: int,
        *,
        area: bool,
    ) -> None:
        """One label's box; its own area too for ground truth (a prediction's is its box's)."""
        box = label.box_in(*size)
        if box is None:
            return
        if self.masks is not None:
            mask = label.mask_in(*size)
            if mask is None:
                return
            self.masks.append(mask.rle)
        x1, y1, x2, y2 = box
        self.image.append(image)
        self.category.append(category)
        self.xywh.append((x1, y1, x2 - x1, y2 - y1))
        self.area.append(label.area_in(*size) if area else 0.0)
        self.score.append(1.0 if label.score is None else label.score)
        self.ref.append(ref)


class _Boxes:
    """Arrays that pages of boxes are copied into, reserved once from an estimate and grown if
    it falls short, so the whole set is never held twice (as parts and their concatenation)."""

    def __init__(self, capacity: int, *, scored: bool, masks: bool = False) -> None:
        self.scored = scored
        self.n = 0
        self.masks: list[dict[str, Any]] | None = [] if masks else None
        self._alloc(max(capacity, 1))

    def _alloc(self, capacity: int) -> None:
        old: dict[str, npt.NDArray[Any]] | None = getattr(self, "columns", None)
        # A prediction's area is its box's (`BoxSet.area`, when asked) and ground truth's score
        # is 1: neither side keeps a column it does not need. Refs (annotation ids, detection
        # indices) are 32-bit, as the ids are.
        self.columns: dict[str, npt.NDArray[Any]] = {
            "image": np.empty(capacity, np.int32),
            "category": np.empty(capacity, np.int32),
            "xywh": np.empty((capacity, 4), np.float64),
            "ref": np.empty(capacity, np.int32),
        }
        self.columns["score" if self.scored else "area"] = np.empty(capacity, np.float64)
        if old is not None:
            for key, column in old.items():
                self.columns[key][: self.n] = column[: self.n]

    def add(self, page: _Page) -> None:
        end = self.n + len(page.image)
        if end > len(self.columns["image"]):
            self._alloc(max(end, len(self.columns["image"]) * 3 // 2))
        part = slice(self.n, end)
        self.columns["image"][part] = page.image
        self.columns["category"][part] = page.category
        self.columns["xywh"][part] = np.array(page.xywh, np.float64).reshape(-1, 4)
        if self.scored:
            self.columns["score"][part] = page.score
        else:
            self.columns["area"][part] = page.area
        self.columns["ref"][part] = page.ref
        if self.masks is not None and page.masks is not None:
            self.masks.extend(page.masks)
        self.n = end

    def result(self) -> tuple[BoxSet, Int32s]:
        c = {key: column[: self.n] for key, column in self.columns.items()}
        # a prediction's area is its box's (`BoxSet.area`), as COCO's loadRes sets it
        boxes = BoxSet.build(
            image=c["image"],
            category=c["category"],
            xywh=c["xywh"],
            area=None if self.scored else c["area"],
            score=c["score"] if self.scored else None,
            masks=self.masks,
        )
        return boxes, c["ref"]


def collect(
    session: Session,
    *,
    project_id: int,
    model_version_id: int,
    ground_truth: GroundTruth,
    gt_model_version_id: int | None,
    selection: ImageFilter,
    classes: Classes,
    classify: bool,
    masks: bool = False,
    progress: Callable[[int], None] | None = None,
    page_size: int = PAGE_SIZE,
) -> Collected:
    out = Collected()
    dt_count, gt_count = _estimate(
        session,
        project_id=project_id,
        model_version_id=model_version_id,
        gt_model_version_id=gt_model_version_id if ground_truth == "model" else None,
        selection=selection,
    )
    gt_boxes = _Boxes(0 if classify else gt_count, scored=False, masks=masks)
    dt_boxes = _Boxes(0 if classify else dt_count, scored=True, masks=masks)
    truth: list[int] = []
    ranked: list[list[int]] = []
    for rows, predicted, truths in _pages(
        session,
        project_id=project_id,
        model_version_id=model_version_id,
        gt_model_version_id=gt_model_version_id if ground_truth == "model" else None,
        selection=selection,
        page_size=page_size,
    ):
        gt_page = _Page(masks=[] if masks else None)
        dt_page = _Page(masks=[] if masks else None)
        for image_id, size in rows:
            if image_id not in predicted:
                continue
            i = len(out.image_ids)
            if classify:
                true_class = next(
                    (
                        label
                        for _, label in truths.get(image_id, [])
                        if label.kind == "classification"
                    ),
                    None,
                )
                if true_class is None:
                    continue  # no class given: nothing to judge the model by
                out.image_ids.append(image_id)
                truth.append(classes.of(true_class.label))
                ranked.append(_ranked(predicted[image_id], classes))
                continue
            out.image_ids.append(image_id)
            for j, label in enumerate(predicted[image_id]):
                dt_page.add(i, classes.of(label.label), label, size, j, area=False)
            for ref, label in truths.get(image_id, []):
                gt_page.add(i, classes.of(label.label), label, size, ref, area=True)
        gt_boxes.add(gt_page)
        dt_boxes.add(dt_page)
        if progress is not None:
            progress(len(out.image_ids))
    if classify:
        out.truth = np.array(truth, np.int64)
        out.ranked = np.array(ranked, np.int64).reshape(-1, TOP)
        return out
    out.gt, out.gt_ref = gt_boxes.result()
    out.dt, out.dt_index = dt_boxes.result()
    return out


def _estimate(
    session: Session,
    *,
    project_id: int,
    model_version_id: int,
    gt_model_version_id: int | None,
    selection: ImageFilter,
) -> tuple[int, int]:
    """How many predictions and ground-truth labels the selected images hold (an upper bound:
    labels without a box are not kept)."""
    images = select(Image.id).where(*image_conditions(session, project_id, selection))
    predicted = select(func.coalesce(func.sum(Prediction.num_detections), 0)).where(
        Prediction.image_id.in_(images)
    )
    dt = session.scalar(predicted.where(Prediction.model_version_id == model_version_id))
    if gt_model_version_id is not None:
        gt = session.scalar(predicted.where(Prediction.model_version_id == gt_model_version_id))
    else:
        gt = session.scalar(
            select(func.count(Annotation.id)).where(Annotation.image_id.in_(images))
        )
    return int(dt or 0), int(gt or 0)


def _ranked(labels: list[Label], classes: Classes) -> list[int]:
    """The model's classes for an image, best first (its classification's top-k)."""
    first = next((label for label in labels if label.kind == "classification"), None)
    if first is None:
        return [-1] * TOP
    names = [c.label for c in first.top_k] if first.top_k else [first.label]
    if names[0] != first.label:
        names = [first.label, *names]
    ranked = [classes.of(name) for name in names[:TOP]]
    return ranked + [-1] * (TOP - len(ranked))


Page = tuple[
    list[tuple[uuid.UUID, tuple[int, int]]],
    dict[uuid.UUID, list[Label]],
    dict[uuid.UUID, list[tuple[Ref, Label]]],
]


def _pages(
    session: Session,
    *,
    project_id: int,
    model_version_id: int,
    gt_model_version_id: int | None,
    selection: ImageFilter,
    page_size: int,
) -> Iterator[Page]:
    cursor: str | None = None
    while True:
        images, cursor = list_images(
            session, project_id=project_id, limit=page_size, cursor=cursor, selection=selection
        )
        rows = [(image.id, (image.width, image.height)) for image in images]
        ids = [image_id for image_id, _ in rows]
        predicted = {
            image_id: [label for _, label in labels]
            for image_id, labels in _predictions(session, ids, model_version_id, True).items()
        }
        if gt_model_version_id is not None:
            truths = _predictions(session, ids, gt_model_version_id, False)
        else:
            truths = _annotations(session, ids)
        for image in images:  # the page is copied out; let its ORM objects go
            session.expunge(image)
        yield rows, predicted, truths
        if cursor is None:
            return


def _predictions(
    session: Session, ids: Sequence[uuid.UUID], model_version_id: int, with_rejected: bool
) -> dict[uuid.UUID, list[tuple[Ref, Label]]]:
    """Each image's labels from one model version, with their index in the row. Labels a
    reviewer rejected are kept for the model being judged (they are its mistakes), left out
    where the model's labels are the ground truth."""
    stmt = select(Prediction.image_id, Prediction.detections, Prediction.review).where(
        Prediction.image_id.in_(ids), Prediction.model_version_id == model_version_id
    )
    out: dict[uuid.UUID, list[tuple[Ref, Label]]] = {}
    for image_id, detections, review in session.execute(stmt):
        out[image_id] = [
            (i, Label.model_validate(d))
            for i, d in enumerate(detections)
            if with_rejected or review.get(str(i)) != "rejected"
        ]
    return out


def _annotations(
    session: Session, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[Ref, Label]]]:
    columns: tuple[Any, ...] = (
        Annotation.image_id,
        Annotation.id,
        Annotation.kind,
        Annotation.label,
        Annotation.geometry,
        Annotation.confidence,
        Annotation.text,
        Annotation.top_k,
        Annotation.attributes,
        Annotation.source,
        Annotation.model_version_id,
        Annotation.created_by_id,
    )
    stmt = (
        select(*columns)
        .where(Annotation.image_id.in_(ids))
        .order_by(Annotation.image_id, Annotation.id)
    )
    out: dict[uuid.UUID, list[tuple[Ref, Label]]] = defaultdict(list)
    for row in session.execute(stmt):
        out[row.image_id].append((row.id, label_of(row)))
    return out
