"""Model speed: raw ONNX Runtime on ready tensors vs our whole pipeline from JPEG bytes.

Measured in one run, on the same 1080p JPEGs, with the same intra-op thread count. For the small
YOLOv8n-320 detector the decode is about half the model's cost, so its reference is also given as
raw ORT + the fastest decode measured (OpenCV's 1/4-scale DCT decode), as in PERF_NOTES.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench.report import Row
from labelbay.inference.base import Model, ModelSpec
from labelbay.inference.imageio import letterbox_batch
from labelbay.inference.pipeline import StageTimes, label_stream
from labelbay.inference.registry import load_model


def photos_1080p(count: int) -> list[bytes]:
    from skimage import data as samples

    sources = [
        samples.astronaut(),
        samples.coffee(),
        samples.chelsea(),
        samples.rocket(),
        np.stack([samples.camera()] * 3, axis=-1),
    ]
    out = []
    for i in range(count):
        bgr = cv2.cvtColor(cv2.resize(sources[i % len(sources)], (1920, 1080)), cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90 - i % 7])
        assert ok
        out.append(encoded.tobytes())
    return out


def _rate(count: int, fn: Callable[[], None], repeat: int = 3) -> float:
    """Images/s of the best of `repeat` runs (the machine is shared; the best is the least noisy)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return count / best


def yolo_model(threads: int) -> Model:
    import nudenet

    path = Path(nudenet.__file__).parent / "320n.onnx"
    spec = ModelSpec(
        name="yolo",
        format="onnx-yolo",
        path=str(path),
        input_size=(320, 320),
        options={"intra_op_threads": threads},
    )
    return load_model(spec)


def run(count: int = 200, threads: int = 2) -> list[Row]:
    jpegs = photos_1080p(count)
    model = yolo_model(threads)
    session = model.session  # type: ignore[attr-defined]
    input_name = session.get_inputs()[0].name
    decoded = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_REDUCED_COLOR_4) for j in jpegs]
    tensors = [letterbox_batch([img[:, :, ::-1]], (320, 320))[0] for img in decoded[:16]]

    def raw() -> None:
        for i in range(count):
            session.run(None, {input_name: tensors[i % len(tensors)]})

    def fastest_decode() -> None:
        for data in jpegs:
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)

    times = StageTimes()

    def pipeline() -> None:
        nonlocal times
        times = StageTimes()
        for _ in label_stream(model, enumerate(jpegs), batch_size=1, timings=times):
            pass

    raw_rate = _rate(count, raw)
    decode_rate = _rate(count, fastest_decode)
    pipe_rate = _rate(count, pipeline)
    combined = 1 / (1 / raw_rate + 1 / decode_rate)
    decode_share = times.share("decode") + times.share("preprocess")
    return [
        Row("decode 1080p JPEG at 1/4 (cv2), one thread", decode_rate, "i/s"),
        Row(
            f"YOLOv8n-320 pipeline, JPEG→detections ({threads} thr)",
            pipe_rate,
            "i/s",
            "raw ORT on ready tensors, same threads",
            raw_rate,
            goal=">= 0.9x",
        ),
        Row(
            "YOLOv8n-320 pipeline",
            pipe_rate,
            "i/s",
            "raw ORT + fastest decode, serial",
            combined,
            goal=">= 0.95x",
        ),
        Row("decode + preprocess share of pipeline time", decode_share * 100, "%"),
    ]
