"""The mask kind: COCO RLE read as pycocotools reads it, box and area from the runs, fitting to
the image, and polygon <-> mask."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from labelbay import labels
from labelbay.errors import Invalid
from labelbay.labels import MaskGeometry


def random_bitmaps() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 80, 2))
        out.append((rng.random((h, w)) < rng.random()).astype(np.uint8))
        blob = np.zeros((h, w), np.uint8)
        blob[h // 4 : h // 2 + 1, w // 3 : w - 1] = 1
        out.append(blob)
    return out


def test_runs_area_box_and_bitmap_agree_with_pycocotools() -> None:
    for bitmap in random_bitmaps():
        rle = coco_mask.encode(np.asfortranarray(bitmap))
        geometry = MaskGeometry(size=list(rle["size"]), counts=rle["counts"].decode())
        label = labels.make("mask", "a", geometry.model_dump())
        np.testing.assert_array_equal(geometry.decode(), coco_mask.decode(rle))
        assert label.area_in(bitmap.shape[1], bitmap.shape[0]) == coco_mask.area(rle)
        if bitmap.any():
            x, y, w, h = coco_mask.toBbox(rle)
            assert label.box == (x, y, x + w, y + h)
        else:
            assert label.box is None


def test_json_form_is_the_rle() -> None:
    bitmap = np.zeros((6, 8), np.uint8)
    bitmap[1:4, 2:7] = 1
    label = labels.make("mask", "cell", MaskGeometry.encode(bitmap).model_dump(), score=0.5)
    stored = label.to_json()
    assert stored["geometry"] == {"size": [6, 8], "counts": MaskGeometry.encode(bitmap).counts}
    assert labels.parse(stored) == label


def test_model_masks_are_fitted_and_empty_ones_dropped() -> None:
    half = np.zeros((3, 4), np.uint8)
    half[1, 1:3] = 1
    label = labels.make("mask", "a", MaskGeometry.encode(half).model_dump())
    fitted = label.fitted(8, 6)
    assert fitted is not None
    np.testing.assert_array_equal(
        fitted.geometry.decode(),  # type: ignore[union-attr]
        np.kron(half, np.ones((2, 2), np.uint8)),
    )
    empty = labels.make("mask", "a", MaskGeometry.encode(np.zeros((6, 8))).model_dump())
    assert empty.fitted(8, 6) is None
    assert empty.box_in(8, 6) is None
    assert empty.outline_in(8, 6) is None


@pytest.mark.parametrize(
    ("bitmap", "message"),
    [(np.ones((5, 8)), "not \\[height, width\\]"), (np.zeros((6, 8)), "no pixel is set")],
)
def test_a_persons_mask_must_be_the_image_size_and_not_empty(
    bitmap: np.ndarray, message: str
) -> None:
    label = labels.make("mask", "a", MaskGeometry.encode(bitmap).model_dump())
    with pytest.raises(Invalid, match=message):
        label.check_inside(8, 6)


def test_polygon_to_mask_is_pycocotools_rasterisation_and_back_to_the_largest_part() -> None:
    points = [(10.0, 10.0), (50.0, 12.0), (45.0, 40.0), (12.0, 35.0)]
    polygon = labels.make("polygon", "a", {"points": [list(p) for p in points]})
    mask = polygon.mask_in(64, 48)
    assert mask is not None
    (reference,) = coco_mask.frPyObjects([[c for p in points for c in p]], 48, 64)
    np.testing.assert_array_equal(mask.decode(), coco_mask.decode(reference))

    # Two parts: the polygon is the outline of the larger; it rasterises back close to it.
    bitmap = mask.decode().copy()
    bitmap[2:5, 55:60] = 1
    as_mask = labels.make("mask", "a", MaskGeometry.encode(bitmap).model_dump())
    outline = as_mask.outline_in(64, 48)
    assert outline is not None
    back = labels.polygon_mask(outline, 64, 48).decode()
    part = mask.decode()
    iou = (back & part).sum() / (back | part).sum()
    assert iou > 0.9
    assert not back[2:5, 55:60].any()


def test_a_box_as_a_mask_is_its_rectangle() -> None:
    box = labels.make("box", "a", {"x1": 2, "y1": 3, "x2": 7, "y2": 5})
    mask = box.mask_in(10, 8)
    assert mask is not None
    expected = np.zeros((8, 10), np.uint8)
    expected[3:5, 2:7] = 1
    np.testing.assert_array_equal(mask.decode(), expected)
