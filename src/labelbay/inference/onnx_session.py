"""ONNX Runtime sessions with options chosen on purpose, and what their inputs look like.

Defaults fit a CPU worker: one intra-op thread per process (on few cores, several worker processes
beat one process with several threads for small models), no inter-op parallelism (a detector graph is
a chain; parallel branches only add scheduling cost), full graph optimisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from labelbay.inference.base import Model, ModelError, ModelSpec, Prepared

DEFAULT_PROVIDERS: tuple[str, ...] = ("CPUExecutionProvider",)


@dataclass(frozen=True)
class InputShape:
    """The first input of a session: its name, and each dimension fixed (int) or dynamic (None)."""

    name: str
    batch: int | None
    channels: int | None
    height: int | None
    width: int | None

    @property
    def dynamic_batch(self) -> bool:
        return self.batch is None

    def size(self, fallback: tuple[int, int] | None) -> tuple[int, int]:
        """(width, height) the model wants: fixed dims win, else `fallback`; ModelError if neither."""
        if self.width is not None and self.height is not None:
            return self.width, self.height
        if fallback is not None:
            return fallback
        raise ModelError(f"input {self.name!r} has a dynamic size; set the model's input size")


def create_session(
    path: str | Path | bytes,
    *,
    intra_op_threads: int = 1,
    providers: Sequence[str] = DEFAULT_PROVIDERS,
) -> ort.InferenceSession:
    """Open an ONNX model file (or its bytes); ModelError says why when it cannot be used."""
    if not isinstance(path, bytes) and not Path(path).is_file():
        raise ModelError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = max(1, intra_op_threads)
    options.inter_op_num_threads = 1
    # Decode threads share the cores with inference; idle ORT threads must not spin and steal them.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available]
    if not chosen:
        raise ModelError(
            f"none of the providers {list(providers)} is available ({sorted(available)})"
        )
    source = path if isinstance(path, bytes) else str(path)
    try:
        return ort.InferenceSession(source, sess_options=options, providers=chosen)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/InvalidProtobuf types
        name = "model bytes" if isinstance(path, bytes) else Path(path).name
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{name} is not a usable ONNX model: {first_line}") from exc


def _dim(value: object) -> int | None:
    # ORT reports symbolic dims as strings ("batch") and unknown ones as None or -1.
    return value if isinstance(value, int) and value > 0 else None


def input_shape(session: ort.InferenceSession) -> InputShape:
    """Shape of the session's first input, which must be an image tensor (N, C, H, W)."""
    first = session.get_inputs()[0]
    shape = list(first.shape)
    if len(shape) != 4:
        raise ModelError(f"input {first.name!r} has shape {shape}; expected 4 dims (N, C, H, W)")
    batch, channels, height, width = (_dim(v) for v in shape)
    if channels not in (None, 3):
        raise ModelError(f"input {first.name!r} has {channels} channels; expected 3 (RGB)")
    return InputShape(first.name, batch, channels, height, width)


def check_image_model(path: Path) -> None:
    """Refuse a file that is not an ONNX model with an image-batch input (session creation parses
    and type-checks the whole graph)."""
    input_shape(create_session(path))


def output_names(session: ort.InferenceSession) -> list[str]:
    return [o.name for o in session.get_outputs()]


def metadata(session: ort.InferenceSession) -> dict[str, str]:
    """The model's custom metadata (Ultralytics exports store `names` and `imgsz` here)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def run_batched(
    session: ort.InferenceSession,
    shape: InputShape,
    batch: npt.NDArray[np.float32],
    *,
    most: int | None = None,
) -> list[npt.NDArray[Any]]:
    """Run a whole NCHW batch through the session, however its batch dim is declared.

    A dynamic batch dim takes the batch in one call, or in runs of at most `most` images. A fixed
    one (1 for most exports) is fed in chunks of that size, the last chunk padded with zeros and
    its padding rows dropped afterwards. Outputs come back concatenated along axis 0, one row per
    input image.
    """
    step = (most or len(batch)) if shape.dynamic_batch else (shape.batch or 1)
    if len(batch) == step or (shape.dynamic_batch and len(batch) <= step):
        return [np.asarray(o) for o in session.run(None, {shape.name: batch})]
    parts: list[list[npt.NDArray[Any]]] = []
    for start in range(0, len(batch), step):
        chunk = batch[start : start + step]
        real = len(chunk)
        if real < step and not shape.dynamic_batch:
            filler = np.zeros((step - real, *chunk.shape[1:]), dtype=chunk.dtype)
            chunk = np.concatenate([chunk, filler])
        outputs = session.run(None, {shape.name: chunk})
        parts.append([np.asarray(o)[:real] for o in outputs])
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


# Images per run on a CPU: more costs more per image (the activations of a larger batch overflow
# a core's cache: YOLOv8n-320 takes ~7% more CPU per image at 8 than at 1 or 2) and gains
# nothing, since one run already keeps its threads busy. Accelerators take the whole batch.
CPU_RUN_IMAGES = 2


class OnnxModel(Model):
    """Shared base of the ONNX adapters: opens the session from the spec and runs batches.

    `spec.options` may hold `intra_op_threads` (default 1), `providers` (default CPU only) and
    `run_images` (images per run: default `CPU_RUN_IMAGES` on a CPU, 0 for the whole batch).
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        if not spec.path:
            raise ModelError(f"model {spec.name!r} has no file")
        self.session = create_session(
            spec.path,
            intra_op_threads=int(spec.options.get("intra_op_threads", 1)),
            providers=tuple(spec.options.get("providers", DEFAULT_PROVIDERS)),
        )
        self.input = input_shape(self.session)
        on_cpu = self.session.get_providers() == ["CPUExecutionProvider"]
        self.run_images: int | None = (
            int(spec.options.get("run_images", CPU_RUN_IMAGES if on_cpu else 0)) or None
        )

    def forward(self, prepared: Prepared) -> list[npt.NDArray[Any]]:
        return run_batched(self.session, self.input, prepared.inputs, most=self.run_images)

    def close(self) -> None:
        # ORT frees the session when the last reference goes; drop ours.
        del self.session
