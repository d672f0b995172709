"""ONNX detector in the DETR / RT-DETR layout: a fixed set of queries, each a box and class logits.

Outputs are `boxes` `[B, Q, 4]` (cx, cy, w, h normalised to 0..1) and `logits` `[B, Q, C]`, found by
name (an output whose name contains "box" / "logit"), else by shape (last dim 4 is the boxes). A single
output `[B, Q, 4 + C]` is also read (Ultralytics' RT-DETR export). Queries do not overlap by design,
so there is no NMS: each query's best class above the confidence threshold becomes a detection.

`spec.options`:
- `score_activation`: "sigmoid" (default; RT-DETR, one independent score per class), "softmax" (DETR:
  the last class is "no object" and is dropped after the softmax), or "none" (already scores);
- `mean` / `std`: per-channel input normalisation after scaling to 0..1 (e.g. ImageNet statistics).

The image is stretched to the input size (no letterbox), so normalised boxes map straight onto the
image that was passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from labelbay.inference.base import ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.geometry import clip_boxes, cxcywh_to_xyxy
from labelbay.inference.imageio import normalise, resize_batch
from labelbay.inference.onnx_session import OnnxModel, output_names

ACTIVATIONS = ("sigmoid", "softmax", "none")


def class_scores(logits: npt.NDArray[np.float32], activation: str) -> npt.NDArray[np.float32]:
    """Per-class scores from logits of shape (..., C); softmax drops the trailing no-object class."""
    if activation == "sigmoid":
        # exp of a large negative logit overflows to inf; clip keeps 1/(1+inf) = 0 without warnings.
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80))), dtype=np.float32)
    if activation == "softmax":
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = shifted / shifted.sum(axis=-1, keepdims=True)
        return np.asarray(probs[..., :-1], dtype=np.float32)
    return np.asarray(logits, dtype=np.float32)


class DetrOnnxModel(OnnxModel):
    """DETR / RT-DETR ONNX export: stretch-resize, per-query best class, no NMS."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.activation = str(spec.options.get("score_activation", "sigmoid"))
        if self.activation not in ACTIVATIONS:
            raise ModelError(
                f"score_activation must be one of {ACTIVATIONS}, got {self.activation!r}"
            )
        self.input_size = self.input.size(spec.input_size)
        self.preferred_side = max(self.input_size)
        self.class_names = spec.class_names
        names = output_names(self.session)
        self.boxes_index = next((i for i, n in enumerate(names) if "box" in n.lower()), None)
        self.logits_index = next(
            (i for i, n in enumerate(names) if "logit" in n.lower() or "score" in n.lower()), None
        )

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        batch, _ = resize_batch(images, self.input_size)
        normalise(batch, self.spec.options.get("mean"), self.spec.options.get("std"))
        return Prepared(batch, [{"size": (img.shape[1], img.shape[0])} for img in images])

    def _split(
        self, outputs: list[npt.NDArray[Any]]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """(boxes [B, Q, 4], logits [B, Q, C]) from the outputs, by name, then by shape."""
        arrays = [np.asarray(o, dtype=np.float32) for o in outputs]
        if len(arrays) == 1:
            (joined,) = arrays
            return joined[..., :4], joined[..., 4:]
        if self.boxes_index is not None and self.logits_index is not None:
            return arrays[self.boxes_index], arrays[self.logits_index]
        boxes = next((a for a in arrays if a.ndim == 3 and a.shape[-1] == 4), None)
        logits = next((a for a in arrays if a.ndim == 3 and a is not boxes), None)
        if boxes is None or logits is None:
            raise ModelError(f"cannot find boxes and logits in outputs {[a.shape for a in arrays]}")
        return boxes, logits

    def post_process(self, outputs: list[npt.NDArray[Any]], prepared: Prepared) -> list[Detections]:
        boxes, logits = self._split(outputs)
        scores = class_scores(logits, self.activation)
        results = []
        for image_boxes, image_scores, meta in zip(boxes, scores, prepared.meta, strict=True):
            class_id = image_scores.argmax(axis=-1)
            score = image_scores[np.arange(len(class_id)), class_id]
            keep = np.flatnonzero(score >= self.spec.confidence_threshold)
            keep = keep[np.argsort(-score[keep], kind="stable")[: self.spec.max_detections]]
            width, height = meta["size"]
            xyxy = cxcywh_to_xyxy(image_boxes[keep]) * np.array(
                [width, height, width, height], dtype=np.float32
            )
            results.append(
                Detections.create(
                    clip_boxes(xyxy, width, height),
                    score[keep],
                    class_id[keep],
                    class_names=self.class_names,
                )
            )
        return results
