"""The labeling pipeline: encoded images in, detections in original pixels out, at model speed.

Decoding runs on a small thread pool a few batches ahead of the model (OpenCV's decoder and ONNX
Runtime both release the GIL), JPEGs are decoded at the smallest DCT scale the model still needs,
and the model sees whole batches. Each stage's time is recorded for the benchmark.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from labelbay.inference.base import Model
from labelbay.inference.detections import Detections
from labelbay.inference.geometry import clip_boxes
from labelbay.inference.imageio import DecodedImage, ImageDecodeError, decode_image

K = TypeVar("K")


@dataclass
class StageTimes:
    """Seconds spent per stage (summed over images) and images seen."""

    decode: float = 0.0
    preprocess: float = 0.0
    infer: float = 0.0
    postprocess: float = 0.0
    images: int = 0
    wall: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def share(self, stage: str) -> float:
        total = self.decode + self.preprocess + self.infer + self.postprocess
        value: float = getattr(self, stage)
        return value / total if total else 0.0


@dataclass(frozen=True)
class Labelled(Generic[K]):
    """One image's outcome: its detections in original pixels, or why it could not be read."""

    key: K
    width: int
    height: int
    detections: Detections | None
    error: str | None = None


def _decode(data: bytes, min_side: int | None) -> DecodedImage | str:
    try:
        return decode_image(data, min_side)
    except ImageDecodeError as exc:
        return str(exc)


def label_stream(
    model: Model,
    items: Iterable[tuple[K, bytes]],
    *,
    batch_size: int = 8,
    decode_threads: int = 2,
    timings: StageTimes | None = None,
    on_batch: Callable[[int], object] | None = None,
) -> Iterator[Labelled[K]]:
    """Label `(key, encoded image)` pairs in order, yielding one `Labelled` per pair."""
    times = timings if timings is not None else StageTimes()
    started = time.perf_counter()
    pending: deque[tuple[K, Future[tuple[DecodedImage | str, float]], float]] = deque()
    lookahead = batch_size * 3
    source = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, decode_threads)) as pool:

        def fill() -> None:
            while len(pending) < lookahead:
                try:
                    key, data = next(source)
                except StopIteration:
                    return
                submitted = time.perf_counter()
                future = pool.submit(_timed_decode, data, model.preferred_side)
                pending.append((key, future, submitted))

        fill()
        while pending:
            batch: list[tuple[K, DecodedImage]] = []
            # Unreadable images wait beside the batch so results come out in input order.
            failed: list[tuple[int, Labelled[K]]] = []
            while pending and len(batch) < batch_size:
                key, future, _ = pending.popleft()
                decoded, seconds = future.result()
                times.decode += seconds
                if isinstance(decoded, str):
                    failed.append((len(batch) + len(failed), Labelled(key, 0, 0, None, decoded)))
                else:
                    batch.append((key, decoded))
                fill()
            labelled = list(_run_batch(model, batch, times)) if batch else []
            for position, failure in failed:
                labelled.insert(position, failure)
            yield from labelled
            if batch and on_batch is not None:
                on_batch(len(batch))
    times.wall += time.perf_counter() - started


def _timed_decode(data: bytes, min_side: int | None) -> tuple[DecodedImage | str, float]:
    started = time.perf_counter()
    decoded = _decode(data, min_side)
    return decoded, time.perf_counter() - started


def _run_batch(
    model: Model, batch: list[tuple[K, DecodedImage]], times: StageTimes
) -> Iterator[Labelled[K]]:
    t0 = time.perf_counter()
    prepared = model.pre_process([decoded.pixels for _, decoded in batch])
    t1 = time.perf_counter()
    outputs = model.forward(prepared)
    t2 = time.perf_counter()
    results = model.post_process(outputs, prepared)
    t3 = time.perf_counter()
    times.preprocess += t1 - t0
    times.infer += t2 - t1
    times.postprocess += t3 - t2
    times.images += len(batch)
    for (key, decoded), detections in zip(batch, results, strict=True):
        width, height = decoded.original_size
        yield Labelled(key, width, height, _to_original(detections, decoded))


def _to_original(detections: Detections, decoded: DecodedImage) -> Detections:
    """Scale to original pixels; clip, because libjpeg rounds reduced sizes up (1921 px / 4 -> 481,
    and 481 * 4 = 1924 would overshoot the image)."""
    if decoded.scale == 1.0:
        return detections
    scaled = detections.scaled(decoded.scale)
    width, height = decoded.original_size
    return dataclasses.replace(scaled, xyxy=clip_boxes(scaled.xyxy, width, height))
