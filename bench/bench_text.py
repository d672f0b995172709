"""`text` (PP-OCRv4) speed: our pipeline vs raw ONNX Runtime on the detector, same images, same threads.

Raw ORT runs the detector alone on inputs already resized and normalised by the model's own
`det_input`, so the ratio "det-only pipeline / raw det" is what our pre-processing and DB
post-processing cost. The det+rec pipeline also crops and reads every line: extra model work that
raw det does not do, so its ratio to raw det says how much reading costs, not overhead.

Images (decoded in memory; decode is measured by `bench_inference`):
- `page()`: skimage's 384x191 scan of a book page, 7 lines of text;
- page 1080p: the same page scaled into a 1920x1080 grey canvas (many large lines);
- photo 1080p: `astronaut()` resized to 1920x1080 (a photo with a little text on the suit).

    .venv/bin/python -m bench.bench_text [--threads 1] [--seconds 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bench.report import Row, print_table
from labelbay.inference.builtin import builtin_spec, load_builtin
from labelbay.inference.builtin.text import TextModel

Image = npt.NDArray[np.uint8]


def images() -> dict[str, Image]:
    from skimage import data

    samples: Any = data  # skimage is untyped
    page = np.stack([samples.page()] * 3, axis=-1)
    scale = min(1920 / page.shape[1], 1080 / page.shape[0])
    big = cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((1080, 1920, 3), 128, np.uint8)
    canvas[: big.shape[0], : big.shape[1]] = big
    photo = cv2.resize(samples.astronaut(), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    return {"page()": page, "page 1080p": canvas, "photo 1080p": photo}


def rates(fns: list[Callable[[], object]], seconds: float, rounds: int = 7) -> list[float]:
    """Calls/s of each function, measured in turns (a slice of each per round), median of rounds.

    The machine is shared and its load drifts; taking turns puts every function under the same
    load, so their ratio is fair even when the absolute figures move.
    """
    calls = []
    for fn in fns:
        fn()  # warm-up: ORT allocates its arena on the first run of a shape
        started = time.perf_counter()
        fn()
        calls.append(max(2, round(seconds / rounds / max(time.perf_counter() - started, 1e-4))))
    measured: list[list[float]] = [[] for _ in fns]
    for round_ in range(rounds):
        # Each round starts with a different function: whatever one leaves behind (freed memory
        # to fault back in, a cold cache) falls on each of them in turn.
        for turn in range(len(fns)):
            which = (round_ + turn) % len(fns)
            started = time.perf_counter()
            for _ in range(calls[which]):
                fns[which]()
            measured[which].append(calls[which] / (time.perf_counter() - started))
    return [statistics.median(out) for out in measured]


def our_steps(model: TextModel, image: Image, outputs: object) -> None:
    model.post_process(outputs, model.pre_process([image]))


def run(threads: int = 1, seconds: float = 4.0) -> list[Row]:
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
        raw, det, both = rates(
            [
                partial(detect_only.det.run, None, {name: ready}),
                partial(detect_only.predict, [image]),
                partial(full.predict, [image]),
            ],
            seconds,
        )
        # Our own steps alone (no ORT): the part of the det-only pipeline that is not the model.
        outputs = detect_only.forward(detect_only.pre_process([image]))
        (steps,) = rates([partial(our_steps, detect_only, image, outputs)], 1.0)
        shape = f"{image.shape[1]}x{image.shape[0]}→{ready.shape[3]}x{ready.shape[2]}"
        rows += [
            Row(f"{label} raw ORT det ({shape})", raw, "i/s"),
            Row(f"{label} det-only pipeline", det, "i/s", "raw ORT det", raw, ">= 0.9x"),
            Row(f"{label} det+rec pipeline ({lines} lines)", both, "i/s", "raw ORT det", raw),
            Row(f"{label} our pre+post steps, ms/image", 1000 / steps, "ms"),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per figure")
    args = parser.parse_args()
    rows = run(args.threads, args.seconds)
    print_table(rows, f"Text model, PP-OCRv4, {args.threads} intra-op thread(s), in-memory images")


if __name__ == "__main__":
    main()
