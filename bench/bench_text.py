"""`text` (PP-OCRv4) speed: our pipeline vs raw ONNX Runtime on the detector, same images, same threads.

Raw ORT runs the detector alone on inputs already resized and normalised by the model's own
`det_input`, so the ratio "det-only pipeline / raw det" is what our pre-processing and DB
post-processing cost. The det+rec pipeline also crops and reads every line: extra model work that
raw det does not do, so its ratio to raw det says how much reading costs, not overhead.

Images (decoded in memory; decode is measured by `bench_inference`):
- `page()`: skimage's 384x191 scan of a book page, 7 lines of text;
- page 1080p: the same page scaled into a 1920x1080 grey canvas (many large lines);
- photo 1080p: `astronaut()` resized to 1920x1080 (a photo with a little text on the suit).

    .venv/bin/python -m bench.bench_text [--threads 1] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt

from bench.report import Row, print_table
from labelbay.inference.builtin import builtin_spec, load_builtin
from labelbay.inference.builtin.text import TextModel

Image = npt.NDArray[np.uint8]


def images() -> dict[str, Image]:
    from skimage import data as samples

    page = np.stack([samples.page()] * 3, axis=-1)
    scale = min(1920 / page.shape[1], 1080 / page.shape[0])
    big = cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((1080, 1920, 3), 128, np.uint8)
    canvas[: big.shape[0], : big.shape[1]] = big
    photo = cv2.resize(samples.astronaut(), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    return {"page()": page, "page 1080p": canvas, "photo 1080p": photo}


def rate(fn: Callable[[], object], seconds: float, runs: int = 5) -> float:
    """Calls/s: the median of `runs` timed loops of about `seconds` each, after one warm-up call."""
    fn()
    started = time.perf_counter()
    fn()
    per_call = max(time.perf_counter() - started, 1e-4)
    calls = max(3, round(seconds / per_call))
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        rates.append(calls / (time.perf_counter() - started))
    return statistics.median(rates)


def run(threads: int = 1, seconds: float = 1.5) -> list[Row]:
    base = builtin_spec("text")
    options = {**base.options, "intra_op_threads": threads}
    detect_only = load_builtin("text", replace(base, options={**options, "recognize": False}))
    full = load_builtin("text", replace(base, options=options))
    assert isinstance(detect_only, TextModel)
    name = detect_only.det.get_inputs()[0].name
    rows: list[Row] = []
    for label, image in images().items():
        ready = detect_only.det_input(image)[0]  # the very tensor the pipeline feeds the detector
        lines = len(full.predict([image])[0])
        raw = rate(lambda ready=ready: detect_only.det.run(None, {name: ready}), seconds)
        det = rate(lambda image=image: detect_only.predict([image]), seconds)
        both = rate(lambda image=image: full.predict([image]), seconds)
        shape = f"{image.shape[1]}x{image.shape[0]}→{ready.shape[3]}x{ready.shape[2]}"
        rows += [
            Row(f"{label} raw ORT det ({shape})", raw, "i/s"),
            Row(f"{label} det-only pipeline", det, "i/s", "raw ORT det", raw, ">= 0.9x"),
            Row(f"{label} det+rec pipeline ({lines} lines)", both, "i/s", "raw ORT det", raw),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--seconds", type=float, default=1.5, help="length of each timed loop")
    args = parser.parse_args()
    rows = run(args.threads, args.seconds)
    print_table(rows, f"Text model, PP-OCRv4, {args.threads} intra-op thread(s), in-memory images")


if __name__ == "__main__":
    main()
