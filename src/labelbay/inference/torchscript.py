"""TorchScript detector, as the old Batch Labeling service ran it (needs the `torch` extra).

The model is called with a list of CHW float tensors in [0, 1] (torchvision detection style, each at
its own size; the model resizes internally), or with `spec.options["input"] = "batch"` with one NCHW
tensor stretched to `spec.input_size`. It may answer, per image, either a dict with "boxes" (xyxy),
"scores" and "labels", or a `(boxes, scores, labels)` tuple; the answer for a batch is a list of
those, or one batched tuple. A scripted torchvision model's `(losses, detections)` pair is unwrapped.

`spec.options`: `label_offset` (subtracted from labels; 1 when the model counts background as 0),
`intra_op_threads` (torch's thread count, default 1). torch is imported only when such a model loads.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelbay.inference.base import Model, ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.geometry import clip_boxes
from labelbay.inference.imageio import resize_batch


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ModelError(
            "TorchScript models need the torch extra: pip install labelbay[torch]"
        ) from exc
    return torch


def load_torchscript(path: str | Path) -> Any:
    """Load a TorchScript file on CPU; ModelError when it is missing or not TorchScript."""
    torch = _import_torch()
    if not Path(path).is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated upstream in favour of torch.export; the old Batch Labeling
            # models are TorchScript files, so loading them is the point of this adapter.
            warnings.filterwarnings(
                "ignore", message=r".*torch\.jit.*", category=DeprecationWarning
            )
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError or ValueError, depending on the damage
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{Path(path).name} is not a TorchScript model: {first_line}") from exc
    module.eval()
    return module


class TorchScriptModel(Model):
    """TorchScript detection model returning boxes + scores + labels per image."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        if not spec.path:
            raise ModelError(f"model {spec.name!r} has no file")
        self.torch = _import_torch()
        self.torch.set_num_threads(int(spec.options.get("intra_op_threads", 1)))
        self.module = load_torchscript(spec.path)
        self.batched = spec.options.get("input", "list") == "batch"
        if self.batched and spec.input_size is None:
            raise ModelError("a batch-input TorchScript model needs its input size")
        self.label_offset = int(spec.options.get("label_offset", 0))
        if spec.input_size:
            self.preferred_side = max(spec.input_size)

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        sizes = [(img.shape[1], img.shape[0]) for img in images]
        if self.batched and self.spec.input_size:
            batch, scales = resize_batch(images, self.spec.input_size)
            meta = [{"size": s, "scale": sc} for s, sc in zip(sizes, scales, strict=True)]
            return Prepared(self.torch.from_numpy(batch), meta)
        tensors = [
            self.torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255)
            for img in images
        ]
        return Prepared(tensors, [{"size": s, "scale": (1.0, 1.0)} for s in sizes])

    def forward(self, prepared: Prepared) -> Any:
        with self.torch.inference_mode():
            return self.module(prepared.inputs)

    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]:
        per_image = _per_image(outputs, len(prepared.meta))
        return [
            self._one(result, meta) for result, meta in zip(per_image, prepared.meta, strict=True)
        ]

    def _one(self, result: tuple[Any, Any, Any], meta: dict[str, Any]) -> Detections:
        boxes, scores, labels = (np.asarray(t.detach().cpu().numpy()) for t in result)
        boxes = boxes.reshape(-1, 4).astype(np.float32)
        scale_x, scale_y = meta["scale"]
        boxes[:, 0::2] /= scale_x
        boxes[:, 1::2] /= scale_y
        scores = scores.reshape(-1).astype(np.float32)
        labels = labels.reshape(-1).astype(np.int64) - self.label_offset
        keep = np.flatnonzero(scores >= self.spec.confidence_threshold)
        keep = keep[np.argsort(-scores[keep], kind="stable")[: self.spec.max_detections]]
        width, height = meta["size"]
        return Detections.create(
            clip_boxes(boxes[keep], width, height),
            scores[keep],
            labels[keep],
            class_names=self.spec.class_names,
        )


def _triple(item: Any) -> tuple[Any, Any, Any]:
    if isinstance(item, dict):
        try:
            return item["boxes"], item["scores"], item["labels"]
        except KeyError as exc:
            raise ModelError(f"model output dict lacks {exc}; needs boxes, scores, labels") from exc
    if isinstance(item, list | tuple) and len(item) == 3:
        return item[0], item[1], item[2]
    raise ModelError(f"unsupported TorchScript output element: {type(item).__name__}")


def _per_image(outputs: Any, count: int) -> list[tuple[Any, Any, Any]]:
    """Normalise the accepted output shapes to one (boxes, scores, labels) per image."""
    # Scripted torchvision detectors return (losses, detections).
    if isinstance(outputs, tuple) and len(outputs) == 2 and isinstance(outputs[0], dict):
        outputs = outputs[1]
    if isinstance(outputs, dict):
        outputs = [outputs]
    if isinstance(outputs, tuple) and len(outputs) == 3 and hasattr(outputs[0], "dim"):
        boxes, scores, labels = outputs
        if boxes.dim() == 3:  # one batched tuple: split along the batch dim
            return [(boxes[i], scores[i], labels[i]) for i in range(boxes.shape[0])]
        outputs = [outputs]
    if not isinstance(outputs, list | tuple) or len(outputs) != count:
        got = len(outputs) if isinstance(outputs, list | tuple) else type(outputs).__name__
        raise ModelError(f"model returned {got} results for {count} images")
    return [_triple(item) for item in outputs]
