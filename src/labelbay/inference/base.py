"""What every model adapter is: `pre_process -> forward -> post_process`, batched over images.

An adapter holds state (a loaded session), so it is a class; the steps are separate so the pipeline can
time them and overlap decoding with inference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from labelbay.inference.detections import Detections

Task = Literal["detect", "classify", "segment"]  # segment: promptable, per click
RGBImage = npt.NDArray[np.uint8]  # (H, W, 3), RGB order


class ModelError(Exception):
    """A model file or endpoint that cannot be used; the message says why."""


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model version; enough to load it."""

    name: str
    format: str
    task: Task = "detect"
    version: str = "1"
    path: str | None = None  # local file of the artifact, when there is one
    url: str | None = None  # remote endpoint (KServe)
    class_names: tuple[str, ...] = ()
    input_size: tuple[int, int] | None = None  # (width, height)
    confidence_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 300
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """A batch after `pre_process`: the model input and what post_process needs to map back."""

    inputs: Any
    meta: list[dict[str, Any]]


class Model(ABC):
    """A loaded model. Subclasses implement the three steps; `predict` chains them."""

    spec: ModelSpec
    #: Largest side the model looks at; the decoder may shrink JPEGs down to this before resizing.
    preferred_side: int | None = None

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @abstractmethod
    def pre_process(self, images: Sequence[RGBImage]) -> Prepared: ...

    @abstractmethod
    def forward(self, prepared: Prepared) -> Any: ...

    @abstractmethod
    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]: ...

    def predict(self, images: Sequence[RGBImage]) -> list[Detections]:
        prepared = self.pre_process(images)
        return self.post_process(self.forward(prepared), prepared)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; adapters with sessions or connections override it."""
