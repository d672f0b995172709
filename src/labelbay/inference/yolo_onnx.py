"""ONNX detector in the Ultralytics YOLOv8 / YOLO11 export layout.

The export's output is `[B, 4 + C, N]`: for each of N anchors a box (cx, cy, w, h in letterboxed input
pixels) and C class scores (already sigmoid-ed, no separate objectness). Post-processing keeps each
anchor's best class above the confidence threshold, runs class-aware NMS, and maps boxes back through
the letterbox to the pixels of the image that was passed in.

A segmentation export (YOLOv8/YOLO11-seg) is the same model with a second output, the mask
prototypes `[B, 32, H/4, W/4]`, and 32 mask coefficients after the class scores (`[B, 4 + C + 32,
N]`); it is recognised by that second output, so "onnx-yolo" loads both. Each kept detection's mask
is sigmoid(coefficients @ prototypes), sampled bilinearly at the image's pixel centres through the
letterbox (upsampling and un-letterboxing in one affine warp), thresholded at 0.5, and cropped to
the detection's box (pixels whose centre lies in it); it leaves as COCO RLE.

Class names and input size come from the spec, else from the metadata Ultralytics writes into the
export (`names`, `imgsz`), else the input size defaults to Ultralytics' 640.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from labelbay.inference.base import ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.geometry import clip_boxes, cxcywh_to_xyxy, nms
from labelbay.inference.imageio import boxes_from_letterbox, letterbox_batch
from labelbay.inference.onnx_session import OnnxModel, create_session, input_shape, metadata
from labelbay.labels import MaskGeometry

DEFAULT_INPUT_SIZE = (640, 640)
# Candidates kept before NMS: bounds NMS time when the threshold is low, far above any real count.
MAX_CANDIDATES = 10_000


def _names_from_metadata(meta: dict[str, str]) -> tuple[str, ...]:
    raw = meta.get("names")
    if not raw:
        return ()
    try:
        names = ast.literal_eval(
            raw
        )  # a Python dict literal {0: 'person', ...}; literal_eval is safe
    except (ValueError, SyntaxError):
        return ()
    if isinstance(names, dict):
        return tuple(str(names[k]) for k in sorted(names))
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    return ()


def _size_from_metadata(meta: dict[str, str]) -> tuple[int, int] | None:
    try:
        height, width = ast.literal_eval(meta.get("imgsz", ""))  # Ultralytics writes [h, w]
        return int(width), int(height)
    except (ValueError, SyntaxError, TypeError):
        return None


def check_artifact(path: Path) -> None:
    """Refuse a file that is not a YOLOv8-layout ONNX detector."""
    session = create_session(path)
    input_shape(session)
    outputs = session.get_outputs()
    if len(outputs[0].shape) != 3:
        raise ModelError(
            f"{path.name}: first output has shape {outputs[0].shape}; a YOLOv8 export has [B, 4+C, N]"
        )
    if len(outputs) > 1 and len(outputs[1].shape) != 4:
        raise ModelError(
            f"{path.name}: second output has shape {outputs[1].shape}; a YOLOv8-seg export's "
            "mask prototypes are [B, 32, H/4, W/4]"
        )


def _mask_coefficients(session: Any) -> int:
    """How many mask coefficients each anchor has: the prototypes' channels (32 in every
    Ultralytics export) for a segmentation model, 0 for a detector."""
    outputs = session.get_outputs()
    if len(outputs) < 2:
        return 0
    channels = outputs[1].shape[1]
    return channels if isinstance(channels, int) and channels > 0 else 32


class YoloOnnxModel(OnnxModel):
    """YOLOv8/YOLO11 ONNX export: letterbox, best class per anchor, class-aware NMS."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        meta = metadata(self.session)
        self.class_names = spec.class_names or _names_from_metadata(meta)
        self.input_size = self.input.size(
            spec.input_size or _size_from_metadata(meta) or DEFAULT_INPUT_SIZE
        )
        self.preferred_side = max(self.input_size)
        self.pad_value = int(spec.options.get("pad_value", 114))
        self.mask_coefficients = _mask_coefficients(self.session)

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        batch, scales, pads = letterbox_batch(images, self.input_size, self.pad_value)
        meta = [
            {"scale": s, "pad": p, "size": (img.shape[1], img.shape[0])}
            for s, p, img in zip(scales, pads, images, strict=True)
        ]
        return Prepared(inputs=batch, meta=meta)

    def _predictions(self, output: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """The output as (B, 4 + C [+ 32], N), whichever way round the export wrote it."""
        if output.ndim != 3:
            raise ModelError(f"expected a [B, 4+C, N] output, got shape {output.shape}")
        extra = 4 + self.mask_coefficients
        rows = extra + len(self.class_names) if self.class_names else None
        if rows is not None and rows not in output.shape[1:]:
            raise ModelError(
                f"output shape {output.shape} does not fit {len(self.class_names)} class names"
            )
        # Some exports write [B, N, 4+C]; anchors far outnumber classes, so the longer axis is N.
        if (output.shape[1] != rows) if rows is not None else output.shape[1] > output.shape[2]:
            output = output.transpose(0, 2, 1)
        return np.asarray(output, dtype=np.float32)

    def post_process(self, outputs: list[npt.NDArray[Any]], prepared: Prepared) -> list[Detections]:
        predictions = self._predictions(outputs[0])
        if self.mask_coefficients:
            protos = np.asarray(outputs[1], dtype=np.float32)
            if protos.ndim != 4 or protos.shape[1] != self.mask_coefficients:
                raise ModelError(f"expected [B, 32, H/4, W/4] prototypes, got {protos.shape}")
            return [
                self._one_image(p, m, q)
                for p, m, q in zip(predictions, prepared.meta, protos, strict=True)
            ]
        return [self._one_image(p, m) for p, m in zip(predictions, prepared.meta, strict=True)]

    def _one_image(
        self,
        pred: npt.NDArray[np.float32],
        meta: dict[str, Any],
        protos: npt.NDArray[np.float32] | None = None,
    ) -> Detections:
        spec = self.spec
        class_scores = pred[4 : len(pred) - self.mask_coefficients]
        class_id = class_scores.argmax(axis=0)
        score = class_scores[class_id, np.arange(class_scores.shape[1])]
        keep = np.flatnonzero(score >= spec.confidence_threshold)
        if len(keep) > MAX_CANDIDATES:
            keep = keep[np.argsort(-score[keep], kind="stable")[:MAX_CANDIDATES]]
        if len(keep) == 0:
            return Detections.empty(self.class_names)
        boxes = cxcywh_to_xyxy(pred[:4, keep].T)
        chosen = keep[
            nms(boxes, score[keep], spec.iou_threshold, class_id[keep], spec.max_detections)
        ]
        boxes = boxes_from_letterbox(cxcywh_to_xyxy(pred[:4, chosen].T), meta["scale"], meta["pad"])
        width, height = meta["size"]
        boxes = clip_boxes(boxes, width, height)
        masks = None
        if protos is not None:
            coefficients = pred[len(pred) - self.mask_coefficients :, chosen].T
            masks = [
                instance_mask(c, protos, box, meta, self.input_size)
                for c, box in zip(coefficients, boxes, strict=True)
            ]
        return Detections.create(
            boxes, score[chosen], class_id[chosen], class_names=self.class_names, masks=masks
        )


def instance_mask(
    coefficients: npt.NDArray[np.float32],
    protos: npt.NDArray[np.float32],
    box: npt.NDArray[np.float32],
    meta: dict[str, Any],
    input_size: tuple[int, int],
) -> MaskGeometry:
    """One detection's mask in the pixels of the image passed in. Only its box is computed: the
    prototypes under the box (plus a cell for the interpolation) are combined, and the warp
    writes the box's pixels from them; the rest of the bitmap (Fortran order, as the RLE encoder
    reads it) stays empty."""
    channels, proto_h, proto_w = protos.shape
    width, height = meta["size"]
    bitmap = np.zeros((height, width), np.uint8, order="F")
    x1, y1, x2, y2 = (float(v) for v in box)
    # Pixels whose centre lies in the box.
    c0, r0 = max(0, math.ceil(x1 - 0.5)), max(0, math.ceil(y1 - 0.5))
    c1, r1 = min(width - 1, math.floor(x2 - 0.5)), min(height - 1, math.floor(y2 - 0.5))
    if c1 >= c0 and r1 >= r0:
        (sx, sy), (pad_x, pad_y) = meta["scale"], meta["pad"]
        rx, ry = proto_w / input_size[0], proto_h / input_size[1]
        # Image pixel centre (x + 0.5) -> letterboxed input (x * scale + pad) -> prototype pixel.
        u0, v0 = ((c0 + 0.5) * sx + pad_x) * rx - 0.5, ((r0 + 0.5) * sy + pad_y) * ry - 0.5
        u1, v1 = ((c1 + 0.5) * sx + pad_x) * rx - 0.5, ((r1 + 0.5) * sy + pad_y) * ry - 0.5
        p0, q0 = min(max(0, math.floor(u0)), proto_w - 1), min(max(0, math.floor(v0)), proto_h - 1)
        p1 = min(max(p0, math.ceil(u1)), proto_w - 1)
        q1 = min(max(q0, math.ceil(v1)), proto_h - 1)
        under = protos[:, q0 : q1 + 1, p0 : p1 + 1]
        logits = coefficients @ under.reshape(channels, -1)
        probability = (1 / (1 + np.exp(-logits))).reshape(under.shape[1:]).astype(np.float32)
        warp = np.array([[sx * rx, 0, u0 - p0], [0, sy * ry, v0 - q0]], np.float64)
        region = cv2.warpAffine(
            probability,
            warp,
            (c1 - c0 + 1, r1 - r0 + 1),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        bitmap[r0 : r1 + 1, c0 : c1 + 1] = region > 0.5
    return MaskGeometry.encode(bitmap)
