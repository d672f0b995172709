"""`text` (PP-OCRv4) speed: our pipeline vs raw ONNX Runtime on the detector and vs RapidOCR's own
pipeline, same images, same weights, same threads.

Raw ORT runs the detector alone on inputs already resized and normalised by the model's own
`det_input`, so the ratio "det-only pipeline / raw det" is what our pre-processing and DB
post-processing cost. The det+rec pipeline also crops and reads every line: extra model work that
raw det does not do, so its ratio to raw det says how much reading costs, not overhead. The same
pipeline with the recogniser batched is measured beside it (one line per run is the default): in
batches of up to 6 lines of similar width (`rec_batch=6`, padded by at most `rec_pad`), and in
PP-OCR's batches (sorted by width, 6 at a time, each padded to its widest line).

RapidOCR (`rapidocr-onnxruntime`, the wheel that carries these ONNX files) runs its own pipeline
with its own defaults (detector at 736 px on the short side, recogniser in batches of 6 sorted by
width, each padded to at least 320 px), one intra-op thread, and its angle classifier off: ours has
none, and with it RapidOCR only does more work. It gets the image in BGR, as it expects. Its texts
and ours are compared as a character error rate (edit distance / length of the reference, lines
joined in reading order), against each other and, for the page, against the page's text as read by
eye: "the same text" means ours is no worse than RapidOCR's.

Images (decoded in memory; decode is measured by `bench_inference`):
- `page()`: skimage's 384x191 scan of a book page, 7 lines of text;
- page 1080p: the same page scaled into a 1920x1080 grey canvas (many large lines);
- photo 1080p: `astronaut()` resized to 1920x1080 (a photo with a little text on the suit; neither
  pipeline reads a line there).

    .venv/bin/python -m bench.bench_text [--threads 1] [--seconds 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
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

# page()'s lines, read off the image by eye (the same text on the 1080p canvas).
PAGE_TEXT = (
    "Region-based segmentation",
    "Let us first determine markers of the coins and the",
    "background. These markers are pixels that we can label",
    "unambiguously as either object or background. Here,",
    "the markers are found at the two extreme parts of the",
    "histogram of grey values:",
    ">>> markers = np.zeros_like(coins)",
)
TRUTH = {"page()": PAGE_TEXT, "page 1080p": PAGE_TEXT}


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


def char_error_rate(read: Sequence[str], reference: Sequence[str]) -> float:
    """Edit distance (insertions, deletions, substitutions) of the joined lines / reference length."""
    hyp, ref = "\n".join(read), "\n".join(reference)
    previous = list(range(len(hyp) + 1))
    for i, want in enumerate(ref, 1):
        current = [i]
        for j, got in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (want != got))
            )
        previous = current
    return previous[-1] / len(ref) if ref else float(bool(hyp))


def rapidocr(threads: int) -> Callable[[Image], list[str]]:
    """RapidOCR's own pipeline at its defaults, angle classifier off; its lines' texts."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, use_cls=False)

    def read(bgr: Image) -> list[str]:
        found, _ = engine(bgr)
        return [str(line[1]) for line in found or ()]

    return read


def run(threads: int = 1, seconds: float = 4.0) -> list[Row]:
    base = builtin_spec("text")
    options = {**base.options, "intra_op_threads": threads}
    detect_only = load_builtin("text", replace(base, options={**options, "recognize": False}))
    full = load_builtin("text", replace(base, options=options))
    # Batches of 6: of similar widths (padded by at most `rec_pad`), and as PP-OCR makes them
    # (sorted by width, six at a time, whatever the padding).
    similar = load_builtin("text", replace(base, options={**options, "rec_batch": 6}))
    sixes = load_builtin("text", replace(base, options={**options, "rec_batch": 6, "rec_pad": 1e9}))
    rapid = rapidocr(threads)
    assert isinstance(detect_only, TextModel)
    name = detect_only.det.get_inputs()[0].name
    rows: list[Row] = []
    for label, image in images().items():
        ready = detect_only.det_input(image)[0]  # the very tensor the pipeline feeds the detector
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        ours = list(full.predict([image])[0].text or ())
        theirs = rapid(bgr)
        raw, det, both, in_similar, in_sixes, reference = rates(
            [
                partial(detect_only.det.run, None, {name: ready}),
                partial(detect_only.predict, [image]),
                partial(full.predict, [image]),
                partial(similar.predict, [image]),
                partial(sixes.predict, [image]),
                partial(rapid, bgr),
            ],
            seconds,
            rounds=5,
        )
        # Our own steps alone (no ORT): the part of the det-only pipeline that is not the model.
        outputs = detect_only.forward(detect_only.pre_process([image]))
        (steps,) = rates([partial(our_steps, detect_only, image, outputs)], 1.0)
        shape = f"{image.shape[1]}x{image.shape[0]}→{ready.shape[3]}x{ready.shape[2]}"
        rows += [
            Row(f"{label} raw ORT det ({shape})", raw, "i/s"),
            Row(f"{label} det-only pipeline", det, "i/s", "raw ORT det", raw, ">= 0.9x"),
            Row(f"{label} det+rec pipeline ({len(ours)} lines)", both, "i/s", "raw ORT det", raw),
            Row(f"{label} det+rec, batches of similar width", in_similar, "i/s", "det+rec", both),
            Row(f"{label} det+rec, batches as PP-OCR", in_sixes, "i/s", "det+rec", both),
            Row(f"{label} RapidOCR det+rec ({len(theirs)} lines)", reference, "i/s"),
            Row(
                f"{label} det+rec pipeline vs RapidOCR",
                both,
                "i/s",
                "RapidOCR det+rec",
                reference,
                ">= 1x",
            ),
            Row(f"{label} our pre+post steps, ms/image", 1000 / steps, "ms"),
            Row(f"{label} text, ours vs RapidOCR's: CER", 100 * char_error_rate(ours, theirs), "%"),
        ]
        if label in TRUTH:
            truth = TRUTH[label]
            mine, its = char_error_rate(ours, truth), char_error_rate(theirs, truth)
            rows.append(
                Row(
                    f"{label} CER vs the page's text",
                    100 * mine,
                    "%",
                    "RapidOCR's CER",
                    100 * its,
                    "<= 1x",
                )
            )
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
