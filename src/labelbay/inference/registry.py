"""Model formats by name: one table of which adapter loads a spec and how an artifact is checked.

Each entry names its adapter and its artifact check as "module:attribute", imported only when that
format is used (so the table costs nothing to import, a format whose extra is missing, e.g. torch,
fails only when used, and no adapter module needs to import this one). `validate_artifact` opens
the file the way the adapter will, so a corrupt or unsupported file is refused when it is registered,
not at first use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from labelbay.inference.base import Model, ModelError, ModelSpec, Task

ModelFactory = Callable[[ModelSpec], Model]
ArtifactCheck = Callable[[Path], object]


@dataclass(frozen=True)
class ModelFormat:
    """One format: `factory` builds the model from a spec (a `Model` class or a function);
    `check` validates an artifact file (None: the format has no file). Both are
    "module:attribute"; a module starting with "." is relative to `labelbay.inference`. `task`
    fixes the task for formats that can only do one."""

    name: str
    factory: str
    check: str | None = None
    task: Task | None = None  # the task every model of this format has, whatever is asked


FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (
        ModelFormat("onnx-yolo", ".yolo_onnx:YoloOnnxModel", ".yolo_onnx:check_artifact"),
        ModelFormat("onnx-detr", ".detr_onnx:DetrOnnxModel", ".onnx_session:check_image_model"),
        ModelFormat(
            "onnx-classify", ".classify_onnx:ClassifierOnnxModel", ".onnx_session:check_image_model"
        ),
        ModelFormat(
            "torchscript", ".torchscript:TorchScriptModel", ".torchscript:load_torchscript"
        ),
        ModelFormat("kserve", ".kserve:KServeModel"),
        # A zip of SAM's encoder and decoder: embeddings by job, masks per click (api assist).
        ModelFormat("onnx-sam", ".sam_onnx:SamOnnxModel", ".sam_onnx:check_artifact", "segment"),
        # Built-in models have registry rows too (no artifact), so jobs and predictions refer to
        # every model the same way.
        ModelFormat("builtin", ".builtin:from_spec"),
    )
}


def formats() -> list[str]:
    return sorted(FORMATS)


def get_format(name: str) -> ModelFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ModelError(f"unknown model format {name!r}; known: {', '.join(formats())}") from None


def load_model(spec: ModelSpec) -> Model:
    """Build the adapter for `spec.format`; ModelError when the format or the artifact is unusable."""
    factory: ModelFactory = _resolve(get_format(spec.format).factory)
    return factory(spec)


def validate_artifact(format_name: str, path: str | Path) -> None:
    """Open `path` as `format_name` would; raise ModelError saying what is wrong with it."""
    model_format = get_format(format_name)
    file = Path(path)
    if not file.is_file():
        raise ModelError(f"model file not found: {file}")
    if file.stat().st_size == 0:
        raise ModelError(f"{file.name} is empty")
    if model_format.check is not None:
        check: ArtifactCheck = _resolve(model_format.check)
        check(file)


def load_plugins(modules: Sequence[str]) -> None:
    """Import the settings' model plugins (each may add rows to FORMATS); ModelError naming the one
    that cannot be imported."""
    for name in modules:
        try:
            import_module(name)
        except ImportError as exc:
            raise ModelError(f"model plugin {name!r} cannot be imported: {exc}") from exc


def _resolve(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    try:
        return getattr(import_module(module_name, package=__package__), attribute)
    except ModuleNotFoundError as exc:
        raise ModelError(f"{reference} is not available here: {exc}") from exc
