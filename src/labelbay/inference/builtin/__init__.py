"""Built-in models that work offline on a fresh machine; their weights come from PyPI wheels.

- `text`: PP-OCRv4 detection + recognition (ONNX files inside the rapidocr-onnxruntime wheel);
- `circles`: OpenCV Hough circles;
- `faces`: OpenCV's Haar frontal-face cascade (opencv-python-headless 4.x wheels).
"""

from __future__ import annotations

from dataclasses import replace
from importlib import import_module
from types import ModuleType

from labelbay.inference.base import Model, ModelError, ModelSpec

BUILTIN_NAMES: tuple[str, ...] = ("text", "circles", "faces")

_MODULES = {
    "text": ("labelbay.inference.builtin.text", "TextModel"),
    "circles": ("labelbay.inference.builtin.circles", "CirclesModel"),
    "faces": ("labelbay.inference.builtin.faces", "FacesModel"),
}


def builtin_spec(name: str) -> ModelSpec:
    """The default spec of a built-in model (name, version, task, class names, thresholds)."""
    spec: ModelSpec = _module(name).spec()
    return spec


def load_builtin(name: str, spec: ModelSpec | None = None, /, **options: object) -> Model:
    """A loaded built-in model.

    `spec` (e.g. a registry row's) replaces the defaults; keyword `options` are laid over its
    options, e.g. `load_builtin("text", recognize=False, intra_op_threads=2)`.
    """
    _, class_name = _lookup(name)
    if options:
        base = spec or builtin_spec(name)
        spec = replace(base, options={**base.options, **options})
    model: Model = getattr(_module(name), class_name)(spec)
    return model


def from_spec(spec: ModelSpec) -> Model:
    """A built-in model from its registry row's spec (the "builtin" format's factory)."""
    return load_builtin(spec.name, spec)


def _module(name: str) -> ModuleType:
    module_name, _ = _lookup(name)
    try:
        return import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ModelError(f"built-in model {name!r} is not available here: {exc}") from exc


def _lookup(name: str) -> tuple[str, str]:
    try:
        return _MODULES[name]
    except KeyError:
        known = ", ".join(BUILTIN_NAMES)
        raise ModelError(f"no built-in model {name!r}; built in: {known}") from None
