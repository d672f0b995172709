"""COCO files read into `BoxSet`s, the way `pycocotools` reads them for a bbox evaluation.

Ground truth is a COCO file: images (sorted by id, as COCOeval sorts them), categories (sorted by
id), annotations with `bbox`, `area` (defaults to the box's area), `iscrowd`. Predictions are a
COCO results list (`[{"image_id", "category_id", "bbox", "score"}]`) or a COCO file whose
annotations carry scores; as in `COCO.loadRes`, a prediction's area is its box's.

For `iou_type="segm"` every region's `segmentation` is read as COCOeval's `annToRLE` reads it
(polygons rasterised at the image's size and merged, uncompressed RLE compressed, compressed RLE
as it is); predictions without a `bbox` take the mask's box and area, as `loadRes` gives them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labelbay.errors import Invalid
from labelbay.evaluation.boxes import BoxSet
from labelbay.evaluation.detection import evaluate_detections

IouType = Literal["bbox", "segm"]


@dataclass(frozen=True)
class CocoData:
    gt: BoxSet
    image_ids: list[int]
    category_ids: list[int]
    classes: list[str]
    sizes: dict[int, tuple[int, int]] | None = None  # segm: image id -> (height, width)


def evaluate_files(
    gt_path: Path,
    pred_path: Path,
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
    iou_type: IouType = "bbox",
) -> dict[str, Any]:
    """The report (JSON form) of a COCO predictions file against a COCO ground-truth file."""
    coco = ground_truth(read_json(gt_path), iou_type=iou_type)
    report = evaluate_detections(
        coco.gt,
        predictions(read_json(pred_path), coco),
        classes=coco.classes,
        n_images=len(coco.image_ids),
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
    )
    return report.to_json()


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise Invalid(f"{path}: {error}") from None


def ground_truth(data: Mapping[str, Any], *, iou_type: IouType = "bbox") -> CocoData:
    try:
        return _ground_truth(data, iou_type)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise Invalid(f"ground truth: not COCO ({type(error).__name__}: {error})") from None


def predictions(data: Any, coco: CocoData) -> BoxSet:
    """A results list, or the annotations of a COCO file; every one needs a score."""
    try:
        return _predictions(data, coco)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise Invalid(f"predictions: not COCO ({type(error).__name__}: {error})") from None


def _ground_truth(data: Mapping[str, Any], iou_type: IouType) -> CocoData:
    if not isinstance(data, Mapping) or "images" not in data or "annotations" not in data:
        raise Invalid("ground truth must be a COCO file (images, annotations, categories)")
    image_ids = sorted({int(image["id"]) for image in data["images"]})
    categories = sorted(data.get("categories", []), key=lambda c: int(c["id"]))
    category_ids = [int(c["id"]) for c in categories]
    classes = [str(c.get("name", c["id"])) for c in categories]
    sizes = None
    if iou_type == "segm":
        sizes = {int(i["id"]): (int(i["height"]), int(i["width"])) for i in data["images"]}
    annotations = [a for a in data["annotations"] if a.get("bbox") or sizes is not None]
    gt = _boxes(annotations, image_ids, category_ids, scored=False, sizes=sizes)
    gt = gt.take(gt.image >= 0)  # COCOeval reads the listed images' boxes only
    return CocoData(gt, image_ids, category_ids, classes, sizes)


def _predictions(data: Any, coco: CocoData) -> BoxSet:
    rows = data["annotations"] if isinstance(data, Mapping) and "annotations" in data else data
    if not isinstance(rows, Sequence):
        raise Invalid("predictions must be a COCO results list or a COCO file")
    rows = [r for r in rows if r.get("bbox") or coco.sizes is not None]
    if any("score" not in r for r in rows):
        raise Invalid("every prediction needs a score")
    known = set(coco.image_ids)
    stray = {r["image_id"] for r in rows} - known
    if stray:
        raise Invalid(f"predictions on {len(stray)} images that are not in the ground truth")
    return _boxes(rows, coco.image_ids, coco.category_ids, scored=True, sizes=coco.sizes)


def _boxes(
    rows: Sequence[Mapping[str, Any]],
    image_ids: list[int],
    category_ids: list[int],
    *,
    scored: bool,
    sizes: dict[int, tuple[int, int]] | None = None,
) -> BoxSet:
    image_index = {image_id: i for i, image_id in enumerate(image_ids)}
    category_index = {category_id: i for i, category_id in enumerate(category_ids)}
    # COCOeval reads each image's boxes in file order, images in id order.
    rows = sorted(rows, key=lambda r: image_index.get(int(r["image_id"]), -1))
    masks = None
    if sizes is not None:
        masks = [_rle(r["segmentation"], *sizes.get(int(r["image_id"]), (0, 0))) for r in rows]
    with_bbox = bool(rows) and bool(rows[0].get("bbox"))  # loadRes looks at the first result
    if masks is not None and not (scored and with_bbox):
        xywh = _mask_boxes(masks, rows)
    else:
        xywh = np.array([r["bbox"] for r in rows], dtype=np.float64).reshape(-1, 4)
    area: Any = None  # a prediction's: its box's, as loadRes sets it from a bbox
    if scored and masks is not None and not with_bbox:
        area = _mask_areas(masks)
    elif not scored:
        area = [r.get("area", b[2] * b[3]) for r, b in zip(rows, xywh, strict=True)]
    return BoxSet.build(
        image=[image_index.get(int(r["image_id"]), -1) for r in rows],
        category=[category_index.get(int(r["category_id"]), -1) for r in rows],
        xywh=xywh,
        area=area,
        score=[r["score"] for r in rows] if scored else None,
        crowd=None if scored else [bool(r.get("iscrowd", 0)) for r in rows],
        masks=masks,
    )


def _rle(segmentation: Any, height: int, width: int) -> dict[str, Any]:
    """A segmentation as COCOeval's `annToRLE` makes it."""
    from pycocotools import mask as coco_mask

    if isinstance(segmentation, list):
        return dict(coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width)))
    if isinstance(segmentation["counts"], list):
        return dict(coco_mask.frPyObjects(segmentation, height, width))
    return dict(segmentation)


def _mask_boxes(masks: Sequence[dict[str, Any]], rows: Sequence[Mapping[str, Any]]) -> Any:
    """Ground truth keeps its bbox; a region without one takes its mask's (`toBbox`)."""
    from pycocotools import mask as coco_mask

    out = np.zeros((len(rows), 4))
    for i, (mask, row) in enumerate(zip(masks, rows, strict=True)):
        out[i] = row["bbox"] if row.get("bbox") else coco_mask.toBbox(mask)
    return out


def _mask_areas(masks: Sequence[dict[str, Any]]) -> Any:
    from pycocotools import mask as coco_mask

    return np.array([float(coco_mask.area(m)) for m in masks])
