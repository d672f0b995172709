"""Masks made and read by the reference tools, for `mask.spec.ts`: each bitmap's COCO RLE from
`pycocotools.mask.encode`, the outline of its largest part from OpenCV's `findContours` (as the
server's `labels.mask_polygon`), and a polygon rasterised by `pycocotools` (as the server's
`labels.polygon_mask`). JSON on stdout; bitmaps as the row-major bytes' base64."""

import base64
import json

import cv2
import numpy as np
from pycocotools import mask as coco_mask
from skimage import data

from labelbay.labels import MaskGeometry, mask_polygon, polygon_mask


def case(name: str, bitmap: np.ndarray) -> dict[str, object]:
    bitmap = np.ascontiguousarray(bitmap.astype(np.uint8))
    rle = coco_mask.encode(np.asfortranarray(bitmap))
    outline = mask_polygon(MaskGeometry(size=list(bitmap.shape), counts=rle["counts"].decode()))
    return {
        "name": name,
        "size": list(bitmap.shape),
        "counts": rle["counts"].decode("ascii"),
        "area": int(bitmap.sum()),
        "bits": base64.b64encode(bitmap.tobytes()).decode("ascii"),
        "outline": None if outline is None else [[int(x), int(y)] for x, y in outline],
    }


rng = np.random.default_rng(13)
disc = np.zeros((1080, 1920), np.uint8)
cv2.circle(disc, (900, 500), 300, 1, -1)
cv2.rectangle(disc, (100, 100), (140, 160), 1, -1)  # a smaller second part
corner = np.zeros((7, 5), np.uint8)
corner[0, 0] = 1
ring = np.zeros((40, 50), np.uint8)
cv2.circle(ring, (25, 20), 15, 1, -1)
cv2.circle(ring, (25, 20), 6, 0, -1)  # a hole: the outline is the outer border only
coins = (data.coins() > 120).astype(np.uint8)
cases = [
    case("empty", np.zeros((30, 20), np.uint8)),
    case("full", np.ones((30, 20), np.uint8)),
    case("first pixel", corner),
    case("noise", rng.random((37, 53)) > 0.5),
    case("ring", ring),
    case("disc 1080p", disc),
    case("coins > 120", coins),
    case("all but the last pixel", np.pad(np.ones((99, 1), np.uint8), ((0, 1), (0, 0)))),
]
polygon = [(10.0, 5.0), (70.0, 12.0), (55.0, 48.0), (30.0, 60.0), (4.0, 30.0)]
raster = polygon_mask(polygon, 80, 64).decode()
print(
    json.dumps(
        {
            "cases": cases,
            "polygon": {
                "points": [list(p) for p in polygon],
                "size": [64, 80],
                "bits": base64.b64encode(np.ascontiguousarray(raster).tobytes()).decode(),
            },
        }
    )
)
