"""A model format whose models answer fixed results, for tests of what runs models.

A flat image (every pixel alike) gets no detection; anything else gets the kind's fixed answer
(`options["kind"]`: "boxes", "classes" or "circles"), so tests know exactly what to expect. The
kind "crash" answers like "boxes" but kills its own process with SIGSEGV on a red image (the native
crash of a broken model). Loaded as a model plugin (`model_plugins`), so model processes and
workers know the format too.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelbay.db.session import transaction
from labelbay.inference.base import Model, Prepared, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.registry import FORMATS, ModelFormat
from labelbay.services.models import register_model

if TYPE_CHECKING:
    from tests.support.stack import Stack

RED = (255, 0, 0)


def is_red(image: RGBImage) -> bool:
    return bool(np.all(image.reshape(-1, 3).mean(axis=0) == RED))


class FixedModel(Model):
    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        return Prepared(list(images), [{} for _ in images])

    def forward(self, prepared: Prepared) -> Any:
        return prepared.inputs

    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]:
        names = self.spec.class_names
        kind = self.spec.options["kind"]
        results = []
        for image in outputs:
            height, width = image.shape[:2]
            if kind == "crash" and is_red(image):
                os.kill(os.getpid(), signal.SIGSEGV)
            if float(np.std(image)) < 1.0:
                results.append(Detections.empty(names))
            elif kind == "classes":
                whole = [[0, 0, width, height]] * 2
                results.append(Detections.create(whole, [0.87, 0.1], [1, 0], class_names=names))
            elif kind == "circles":
                results.append(
                    Detections.create(
                        [[4, 2, 10, 8]], [0.9], [0], class_names=names, circles=[[7, 5, 3]]
                    )
                )
            else:
                results.append(Detections.create([[2, 3, 12, 9]], [0.8], [0], class_names=names))
        return results


# A row in the format table for the tests' own adapter (the table is the only way in).
FORMATS.setdefault("test-fixed", ModelFormat("test-fixed", f"{__name__}:FixedModel"))

MODELS = {
    "fixed-boxes": ("detect", ["fish"]),
    "fixed-classes": ("classify", ["dog", "cat"]),
    "fixed-circles": ("detect", ["circle"]),
}


def register_fixed_models(stack: Stack, folder: Path, models: dict[str, Any] | None = None) -> None:
    """Register the fixed models (or `models`, the same shape as MODELS) in the stack's registry."""
    artifact = folder / "fixed.bin"
    artifact.write_bytes(b"fixed")
    with transaction(stack.context.sessions) as session:
        for name, (task, classes) in (models or MODELS).items():
            register_model(
                session,
                store=stack.context.storage.models,
                name=name,
                format="test-fixed",
                task=task,  # type: ignore[arg-type]
                file=artifact,
                class_names=classes,
                options={"kind": name.removeprefix("fixed-")},
            )
