"""Model formats by name: which adapter loads a spec, and how an artifact is checked at registration.

Built in: "onnx-yolo", "onnx-detr", "onnx-classify", "torchscript". Other parts of labelbay add theirs
with `register_format` (e.g. "kserve", "builtin"). `validate_artifact` opens the file the way the
adapter will, so a corrupt or unsupported file is refused when it is registered, not at first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labelbay.inference.base import Model, ModelError, ModelSpec
from labelbay.inference.classify_onnx import ClassifierOnnxModel
from labelbay.inference.detr_onnx import DetrOnnxModel
from labelbay.inference.onnx_session import create_session, input_shape
from labelbay.inference.torchscript import TorchScriptModel, load_torchscript
from labelbay.inference.yolo_onnx import YoloOnnxModel

ModelFactory = Callable[[ModelSpec], Model]
ArtifactCheck = Callable[[Path], None]


@dataclass(frozen=True)
class ModelFormat:
    """An adapter for one format; `check` validates an artifact file (None: no file to check)."""

    name: str
    factory: ModelFactory
    check: ArtifactCheck | None = None


_formats: dict[str, ModelFormat] = {}
_lock = threading.Lock()


def register_format(name: str, factory: ModelFactory, check: ArtifactCheck | None = None) -> None:
    """Add or replace the adapter for a format name."""
    with _lock:
        _formats[name] = ModelFormat(name, factory, check)


def formats() -> list[str]:
    return sorted(_formats)


def get_format(name: str) -> ModelFormat:
    try:
        return _formats[name]
    except KeyError:
        raise ModelError(f"unknown model format {name!r}; known: {', '.join(formats())}") from None


def load_model(spec: ModelSpec) -> Model:
    """Build the adapter for `spec.format`; ModelError when the format or the artifact is unusable."""
    return get_format(spec.format).factory(spec)


def validate_artifact(format_name: str, path: str | Path) -> None:
    """Open `path` as `format_name` would; raise ModelError saying what is wrong with it."""
    model_format = get_format(format_name)
    file = Path(path)
    if not file.is_file():
        raise ModelError(f"model file not found: {file}")
    if file.stat().st_size == 0:
        raise ModelError(f"{file.name} is empty")
    if model_format.check is not None:
        model_format.check(file)


def _check_onnx_image_model(path: Path) -> None:
    # Session creation parses and type-checks the whole graph; the input must be an image batch.
    session = create_session(path)
    input_shape(session)


def _check_onnx_yolo(path: Path) -> None:
    session = create_session(path)
    input_shape(session)
    outputs = session.get_outputs()
    if len(outputs[0].shape) != 3:
        raise ModelError(
            f"{path.name}: first output has shape {outputs[0].shape}; a YOLOv8 export has [B, 4+C, N]"
        )


def _check_torchscript(path: Path) -> None:
    load_torchscript(path)


register_format("onnx-yolo", YoloOnnxModel, _check_onnx_yolo)
register_format("onnx-detr", DetrOnnxModel, _check_onnx_image_model)
register_format("onnx-classify", ClassifierOnnxModel, _check_onnx_image_model)
register_format("torchscript", TorchScriptModel, _check_torchscript)

import labelbay.inference.kserve  # noqa: E402, F401  - registers "kserve"; it imports this module
