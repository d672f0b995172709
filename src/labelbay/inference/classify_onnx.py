"""ONNX image classifier: logits -> softmax -> top-k classes with their names.

Result shape: every adapter returns `Detections`, so storage, export and review need no second path.
A classification is one row per top-k class whose probability reaches the confidence threshold, each
with a box covering the whole image (0, 0, width, height). The full top-k list, threshold or not, is
in `detections.extra["top_k"]` as `ClassScore` tuples, best first.

`spec.options`: `top_k` (default 5), `softmax` (default True; False when the model already outputs
probabilities), `mean` / `std` for input normalisation (ImageNet models need them). The image is
stretched to the input size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from labelbay.inference.base import ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import ClassScore, Detections
from labelbay.inference.imageio import normalise, resize_batch
from labelbay.inference.onnx_session import OnnxModel


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Softmax over the last axis, shifted by the max so large logits do not overflow."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True), dtype=np.float32)


def top_k(probabilities: npt.NDArray[np.float32], k: int, names: Sequence[str]) -> list[ClassScore]:
    """The k best classes of one image's probability vector, best first (ties: lower id first)."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        ClassScore(int(i), names[i] if i < len(names) else str(int(i)), float(probabilities[i]))
        for i in order
    ]


class ClassifierOnnxModel(OnnxModel):
    """ONNX classifier; see the module docstring for how a classification is expressed."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.input_size = self.input.size(spec.input_size)
        self.preferred_side = max(self.input_size)
        self.k = int(spec.options.get("top_k", 5))
        if self.k < 1:
            raise ModelError(f"top_k must be at least 1, got {self.k}")
        self.apply_softmax = bool(spec.options.get("softmax", True))

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        batch, _ = resize_batch(images, self.input_size)
        normalise(batch, self.spec.options.get("mean"), self.spec.options.get("std"))
        return Prepared(batch, [{"size": (img.shape[1], img.shape[0])} for img in images])

    def post_process(self, outputs: list[npt.NDArray[Any]], prepared: Prepared) -> list[Detections]:
        logits = np.asarray(outputs[0], dtype=np.float32).reshape(len(prepared.meta), -1)
        probabilities = softmax(logits) if self.apply_softmax else logits
        names = self.spec.class_names
        results = []
        for row, meta in zip(probabilities, prepared.meta, strict=True):
            best = top_k(row, self.k, names)
            shown = [c for c in best if c.score >= self.spec.confidence_threshold]
            width, height = meta["size"]
            detections = Detections.create(
                np.tile(np.array([0, 0, width, height], dtype=np.float32), (len(shown), 1)),
                [c.score for c in shown],
                [c.class_id for c in shown],
                class_names=names,
            )
            detections.extra["top_k"] = best
            results.append(detections)
        return results
