"""A promptable segmenter from SAM / MobileSAM ONNX files: a heavy encoder run once per image, a
light decoder run per click.

The artifact is one zip holding `encoder.onnx` and `decoder.onnx` (one file keeps the registry's
one-artifact rule: one SHA-256, one cached download, both halves always from the same export).

- encoder: one input, the image as SAM prepares it — longest side resized to 1024 (the encoder's
  input size, when it declares one), normalised with SAM's pixel mean and std, zero-padded at the
  right and bottom to a square — as `[1, 3, S, S]` float32; its first output is the
  `image_embeddings` `[1, 256, 64, 64]`;
- decoder: SAM's ONNX export (`scripts/export_onnx_model.py`): inputs `image_embeddings,
  point_coords, point_labels, mask_input, has_mask_input, orig_im_size`, outputs `masks,
  iou_predictions, low_res_masks`, masks as logits at `orig_im_size` (cut at 0). When it answers
  several masks, the one with the best predicted IoU is taken.

Clicks arrive in the image's pixels and are scaled like the image; a padding point (label -1) is
appended, as SAM's own ONNX example does when no box is given.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from labelbay.inference.base import Model, ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.onnx_session import DEFAULT_PROVIDERS, create_session

Embedding = npt.NDArray[np.float32]

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
DECODER_INPUTS = (
    "image_embeddings",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
)
DECODER_OUTPUTS = ("masks", "iou_predictions", "low_res_masks")
EMBEDDING_SHAPE = (1, 256, 64, 64)
SIDE = 1024  # SAM's input side; an encoder that declares another fixed side wins
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], np.float32)
MASK_THRESHOLD = 0.0


def _read_pair(path: str | Path) -> tuple[bytes, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [n for n in (ENCODER_FILE, DECODER_FILE) if n not in names]
            if missing:
                raise ModelError(
                    f"an onnx-sam model is a zip with {ENCODER_FILE} and {DECODER_FILE}; "
                    f"missing {', '.join(missing)}"
                )
            return archive.read(ENCODER_FILE), archive.read(DECODER_FILE)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{Path(path).name} is not a zip of the two SAM ONNX files") from exc


def _check_signatures(encoder: ort.InferenceSession, decoder: ort.InferenceSession) -> int:
    """The encoder's square input side; ModelError when either half has the wrong interface."""
    first = encoder.get_inputs()[0]
    if len(first.shape) != 4 or (
        first.shape[1] not in (3, None) and isinstance(first.shape[1], int)
    ):
        raise ModelError(
            f"encoder input {first.name!r} has shape {first.shape}; expected [1, 3, S, S]"
        )
    out = encoder.get_outputs()[0]
    fixed = [d for d in out.shape if isinstance(d, int)]
    if len(out.shape) != 4 or (len(fixed) == 4 and tuple(fixed) != EMBEDDING_SHAPE):
        raise ModelError(
            f"encoder output {out.name!r} has shape {out.shape}; expected [1,256,64,64]"
        )
    inputs = {i.name for i in decoder.get_inputs()}
    outputs = {o.name for o in decoder.get_outputs()}
    missing = [n for n in DECODER_INPUTS if n not in inputs]
    missing += [n for n in DECODER_OUTPUTS[:2] if n not in outputs]
    if missing:
        raise ModelError(f"decoder lacks SAM's ONNX inputs/outputs: {', '.join(missing)}")
    height, width = first.shape[2], first.shape[3]
    if isinstance(height, int) and isinstance(width, int) and height > 0:
        if height != width:
            raise ModelError(f"encoder input is {width}x{height}; SAM encoders take a square")
        return height
    return SIDE


def check_artifact(path: Path) -> None:
    """Refuse a file that is not a zip of a SAM encoder and decoder with SAM's interface."""
    encoder_bytes, decoder_bytes = _read_pair(path)
    _check_signatures(create_session(encoder_bytes), create_session(decoder_bytes))


def prepare(image: RGBImage, side: int = SIDE) -> tuple[npt.NDArray[np.float32], float]:
    """SAM's preprocessing: (the `[1, 3, side, side]` tensor, the resize factor)."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    new_w, new_h = int(width * scale + 0.5), int(height * scale + 0.5)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    tensor = np.zeros((1, 3, side, side), np.float32)
    normalised = (resized.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
    tensor[0, :, :new_h, :new_w] = normalised.transpose(2, 0, 1)
    return tensor, scale


class SamOnnxModel(Model):
    """Loaded encoder and decoder sessions. `encoder_runs` counts encoder calls (what a cached
    embedding saves)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        if not spec.path:
            raise ModelError(f"model {spec.name!r} has no file")
        threads = int(spec.options.get("intra_op_threads", 1))
        providers = tuple(spec.options.get("providers", DEFAULT_PROVIDERS))
        encoder_bytes, decoder_bytes = _read_pair(spec.path)
        self.encoder = create_session(encoder_bytes, intra_op_threads=threads, providers=providers)
        self.decoder = create_session(decoder_bytes, intra_op_threads=threads, providers=providers)
        self.side = _check_signatures(self.encoder, self.decoder)
        self.encoder_input = self.encoder.get_inputs()[0].name
        self.encoder_runs = 0

    def embed(self, image: RGBImage) -> Embedding:
        """The image's embedding `[1, 256, 64, 64]` (the costly half)."""
        tensor, _ = prepare(image, self.side)
        self.encoder_runs += 1
        embedding = self.encoder.run(None, {self.encoder_input: tensor})[0]
        return np.ascontiguousarray(embedding, dtype=np.float32)

    def decoder_inputs(
        self,
        embedding: Embedding,
        points: Sequence[tuple[float, float]],
        labels: Sequence[int],
        size: tuple[int, int],
    ) -> dict[str, npt.NDArray[np.float32]]:
        """The decoder's feed for clicks in image pixels on an image of `size` (width, height)."""
        width, height = size
        scale = self.side / max(width, height)
        factor = np.array(
            [int(width * scale + 0.5) / width, int(height * scale + 0.5) / height], np.float32
        )
        coords = np.asarray(points, np.float32).reshape(-1, 2) * factor
        coords = np.concatenate([coords, np.zeros((1, 2), np.float32)])[None]
        point_labels = np.asarray([*labels, -1], np.float32)[None]
        return {
            "image_embeddings": embedding,
            "point_coords": coords,
            "point_labels": point_labels,
            "mask_input": np.zeros((1, 1, 256, 256), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
            "orig_im_size": np.array([height, width], np.float32),
        }

    def segment(
        self,
        embedding: Embedding,
        points: Sequence[tuple[float, float]],
        labels: Sequence[int],
        size: tuple[int, int],
    ) -> npt.NDArray[np.bool_]:
        """The mask (height, width) for clicks on an image of `size`: the decoder alone."""
        if embedding.shape != EMBEDDING_SHAPE:
            raise ModelError(f"embedding has shape {embedding.shape}; expected {EMBEDDING_SHAPE}")
        feed = self.decoder_inputs(embedding, points, labels, size)
        masks, scores = self.decoder.run(list(DECODER_OUTPUTS[:2]), feed)
        best = int(np.argmax(np.asarray(scores).reshape(-1)))
        mask = np.asarray(masks)[0, best]
        width, height = size
        if mask.shape != (height, width):
            raise ModelError(f"decoder answered a {mask.shape} mask for a {width}x{height} image")
        return np.asarray(mask > MASK_THRESHOLD)

    # A promptable segmenter answers clicks, not whole images: a job over it computes embeddings
    # (jobs.tasks), and `labelbay label` cannot use it.
    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        raise ModelError(f"{self.spec.name} is a promptable segmenter; it labels nothing alone")

    def forward(self, prepared: Prepared) -> Any:
        raise ModelError(f"{self.spec.name} is a promptable segmenter; it labels nothing alone")

    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]:
        raise ModelError(f"{self.spec.name} is a promptable segmenter; it labels nothing alone")

    def close(self) -> None:
        del self.encoder, self.decoder
