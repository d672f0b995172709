"""The format table: every entry names an adapter and a check that exist, loaded only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labelbay.inference import registry
from labelbay.inference.base import ModelError, ModelSpec


@pytest.mark.parametrize("name", sorted(registry.FORMATS))
def test_every_format_names_real_callables(name: str) -> None:
    entry = registry.get_format(name)
    assert callable(registry._resolve(entry.factory))
    if entry.check is not None:
        assert callable(registry._resolve(entry.check))


def test_the_table_imports_no_adapter() -> None:
    code = (
        "import sys, labelbay.inference.registry as r; "
        "print(sorted(m for m in sys.modules if m.startswith('labelbay.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert "labelbay.inference.kserve" not in loaded
    assert "labelbay.inference.yolo_onnx" not in loaded
    assert "labelbay.inference.base" in loaded


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model format 'nope'; known: builtin"):
        registry.load_model(ModelSpec(name="x", format="nope"))
    with pytest.raises(ModelError, match="not found"):
        registry.validate_artifact("onnx-yolo", tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    with pytest.raises(ModelError):
        registry.validate_artifact("onnx-detr", broken)


def test_builtin_format_loads_a_builtin_model() -> None:
    model = registry.load_model(ModelSpec(name="circles", format="builtin"))
    try:
        assert model.spec.name == "circles"
    finally:
        model.close()
