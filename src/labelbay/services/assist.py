"""Assisted masks for one image: the weight-free tools (`inference.assist`) and a registered SAM
model's clicks, with each image's SAM embedding cached in object storage.

The embedding of (model version, image) lives at `embeddings/<model version id>/<image id>.npy` in
the `output` location: a job over the SAM model writes it for every image (`jobs.tasks`), and a
click on an image without one computes and stores it first, so a second click runs only the
decoder.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import numpy as np

from labelbay.config import Settings
from labelbay.db.models import Image
from labelbay.errors import Invalid, NotFound
from labelbay.inference.assist import MaskAnswer, Tool, assist, check_clicks
from labelbay.inference.base import ModelError
from labelbay.inference.imageio import ImageDecodeError, decode_image
from labelbay.inference.sam_onnx import EMBEDDING_SHAPE, Embedding, SamOnnxModel
from labelbay.services.images import image_location
from labelbay.services.model_cache import ModelManager
from labelbay.storage import Locations, ObjectNotFound, ObjectStore


@dataclass(frozen=True)
class SamClicks:
    """Clicks for a registered SAM model (`onnx-sam`)."""

    model_version_id: int
    points: list[tuple[float, float]]
    labels: list[int]


def image_bytes(image: Image, *, storage: Locations, settings: Settings) -> bytes:
    """The image's stored bytes; NotFound when its object is gone."""
    store, key = image_location(image, storage=storage, settings=settings)
    try:
        return store.get(key)
    except ObjectNotFound as exc:
        raise NotFound("the image's file is missing") from exc


def assisted_mask(
    image: Image,
    tool: Tool | SamClicks,
    *,
    storage: Locations,
    settings: Settings,
    models: ModelManager,
) -> MaskAnswer:
    """The mask a tool makes on the image. Invalid: input that does not fit the image, a model
    that is not a SAM model, or a file that no longer decodes."""
    if isinstance(tool, SamClicks):
        return sam_mask(image, tool, storage=storage, settings=settings, models=models)
    data = image_bytes(image, storage=storage, settings=settings)
    try:
        return assist(data, tool)
    except ImageDecodeError as exc:
        raise Invalid(f"the image's file cannot be decoded: {exc}") from exc


def sam_mask(
    image: Image, clicks: SamClicks, *, storage: Locations, settings: Settings, models: ModelManager
) -> MaskAnswer:
    check_clicks(clicks.points, clicks.labels, image.width, image.height)
    model = _sam_model(models, clicks.model_version_id)
    embedding = cached_embedding(
        model, clicks.model_version_id, image, storage=storage, settings=settings
    )
    try:
        mask = model.segment(embedding, clicks.points, clicks.labels, (image.width, image.height))
    except ModelError as exc:
        raise Invalid(f"the SAM model cannot answer: {exc}") from exc
    return MaskAnswer(mask)


def embedding_key(model_version_id: int, image_id: uuid.UUID) -> str:
    return f"embeddings/{model_version_id}/{image_id}.npy"


def cached_embedding(
    model: SamOnnxModel,
    model_version_id: int,
    image: Image,
    *,
    storage: Locations,
    settings: Settings,
) -> Embedding:
    """The stored embedding of the image, or a new one (encoder run once, then stored)."""
    key = embedding_key(model_version_id, image.id)
    try:
        stored = np.load(io.BytesIO(storage.output.get(key)), allow_pickle=False)
    except ObjectNotFound:
        stored = None
    except ValueError:
        stored = None  # a damaged cache entry: computed again below, and overwritten
    if stored is not None and stored.shape == EMBEDDING_SHAPE:
        return np.asarray(stored, dtype=np.float32)
    data = image_bytes(image, storage=storage, settings=settings)
    return store_embedding(model, model_version_id, image.id, data, store=storage.output)


def store_embedding(
    model: SamOnnxModel,
    model_version_id: int,
    image_id: uuid.UUID,
    data: bytes,
    *,
    store: ObjectStore,
) -> Embedding:
    """Run the encoder on the encoded image `data` and keep the result; Invalid when the bytes
    do not decode."""
    try:
        # The encoder looks at the longest side at 1024 pixels: a JPEG decodes at that scale.
        pixels = decode_image(data, model.side).pixels
    except ImageDecodeError as exc:
        raise Invalid(f"the image's file cannot be decoded: {exc}") from exc
    embedding = model.embed(pixels)
    buffer = io.BytesIO()
    np.save(buffer, embedding, allow_pickle=False)
    store.put(
        embedding_key(model_version_id, image_id),
        buffer.getvalue(),
        content_type="application/octet-stream",
    )
    return embedding


def _sam_model(models: ModelManager, model_version_id: int) -> SamOnnxModel:
    try:
        model = models.get_by_id(model_version_id)
    except ModelError as exc:
        raise Invalid(f"model version {model_version_id}: {exc}") from exc
    if not isinstance(model, SamOnnxModel):
        raise Invalid(f"model version {model_version_id} is not a SAM model (format onnx-sam)")
    return model
