"""Assisted masks on a 1920x1080 photo: latency per call, p50 and p95 over 20 calls, beside the
same OpenCV call on the full-size image in the same run; and a SAM click on the test graph pair
beside the raw ONNX Runtime call of its decoder.

Our figure is what the endpoint does after reading the object: JPEG bytes -> decode (at a reduced
DCT scale when the working copy allows) -> the tool on a copy of at most 512 pixels (256 for
GrabCut) -> the mask back at 1920x1080 -> COCO RLE, polygon, box and area. The reference is the
OpenCV call alone on the decoded full-size image (no decode, no encoding): GrabCut (same
rectangle, same rounds) and the marker watershed (same click).

Photo: skimage's `chelsea()` (a cat, 451x300) resized to 1920x1080, JPEG quality 90.

    .venv/bin/python -m bench.bench_assist
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.report import Row, print_table
from labelbay.inference import assist
from labelbay.inference.base import ModelSpec
from labelbay.inference.registry import load_model
from labelbay.inference.sam_onnx import SamOnnxModel

CALLS = 20
BOX = (300.0, 60.0, 1350.0, 1000.0)  # around the cat, x y w h
CLICK = (1060.0, 560.0)  # on its face


def photo() -> tuple[np.ndarray[Any, Any], bytes]:
    from skimage import data

    samples: Any = data  # skimage is untyped
    pixels = cv2.resize(samples.chelsea(), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    ok, jpeg = cv2.imencode(
        ".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    assert ok
    return np.ascontiguousarray(pixels), jpeg.tobytes()


def timings(fn: Callable[[], object], calls: int = CALLS, warm: bool = True) -> tuple[float, float]:
    """(p50, p95) in ms over `calls` calls, after one warm-up call when `warm`."""
    if warm:
        fn()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return statistics.median(times), cuts[18]


def full_size_grabcut(pixels: np.ndarray[Any, Any]) -> None:
    mask = np.zeros(pixels.shape[:2], np.uint8)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    rect = tuple(int(v) for v in BOX)
    cv2.grabCut(pixels, mask, rect, *models, assist.GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)


def full_size_watershed(pixels: np.ndarray[Any, Any]) -> None:
    assist.watershed_clicks(pixels, [(int(CLICK[0]), int(CLICK[1]))], [1])


def run() -> list[Row]:
    pixels, jpeg = photo()
    rows: list[Row] = []
    for name, tool, reference_name, reference in (
        ("box -> mask (GrabCut, 256 copy)", assist.Box(*BOX), "GrabCut on the full 1920x1080",
         full_size_grabcut),
        ("click -> mask (watershed, 512 copy)", assist.Clicks([CLICK], [1]),
         "watershed on the full 1920x1080", full_size_watershed),
    ):  # fmt: skip
        ours = timings(lambda tool=tool: assist.assist(jpeg, tool).to_json())
        # Full-size GrabCut takes many seconds a call: 3 calls give its median.
        ref = timings(lambda reference=reference: reference(pixels), calls=3, warm=False)
        rows += [
            Row(f"{name} p95", ours[1], "ms", goal="p95 < 300 ms"),
            Row(f"{name} p50", ours[0], "ms", f"{reference_name} p50", ref[0], "< 1x"),
        ]
    rows += sam_rows(pixels)
    return rows


def sam_rows(pixels: np.ndarray[Any, Any]) -> list[Row]:
    from tests.support import sam_graphs  # the pair the tests build; no weights exist offline

    with tempfile.TemporaryDirectory() as folder:
        path = sam_graphs.write_zip(Path(folder) / "sam.zip")
        model = load_model(ModelSpec(name="sam", format="onnx-sam", path=str(path)))
    assert isinstance(model, SamOnnxModel)
    embedding = model.embed(pixels)
    size = (pixels.shape[1], pixels.shape[0])
    feed = model.decoder_inputs(embedding, [CLICK], [1], size)
    raw = timings(lambda: model.decoder.run(None, feed))
    click = timings(
        lambda: assist.MaskAnswer(model.segment(embedding, [CLICK], [1], size)).to_json()
    )
    return [
        Row("SAM click, test graph, raw ORT decoder p50", raw[0], "ms"),
        Row("SAM click -> mask answer p50", click[0], "ms", "raw ORT decoder p50", raw[0]),
        Row("SAM click -> mask answer p95", click[1], "ms", goal="p95 < 300 ms"),
    ]


def main() -> None:
    print_table(run(), "Assisted masks on a 1920x1080 photo (20 calls each)")


if __name__ == "__main__":
    main()
