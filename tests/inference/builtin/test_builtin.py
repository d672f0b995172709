"""The built-in model list: names, default specs, options laid over them, clear errors."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import pytest

from labelbay.inference.base import Model, ModelError
from labelbay.inference.builtin import BUILTIN_NAMES, builtin_spec, load_builtin
from labelbay.inference.builtin import text as text_module


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_each_name_has_a_spec_and_loads(name: str) -> None:
    spec = builtin_spec(name)
    assert spec.name == name
    assert spec.format == "builtin"
    assert spec.task == "detect"
    assert len(spec.class_names) == 1
    model = load_builtin(name)
    assert isinstance(model, Model)
    assert model.spec == spec
    assert model.preferred_side is not None
    assert model.preferred_side >= 640
    model.close()


def test_the_names_are_the_three_of_the_brief() -> None:
    assert set(BUILTIN_NAMES) == {"text", "circles", "faces"}


def test_keyword_options_are_laid_over_the_spec() -> None:
    base = replace(builtin_spec("circles"), confidence_threshold=0.9)
    model = load_builtin("circles", base, accumulator=50)
    assert model.spec.confidence_threshold == 0.9, "the given spec is kept"
    assert model.spec.options["accumulator"] == 50
    assert model.spec.options["min_radius"] == base.options["min_radius"], "others stay"


def test_an_unknown_name_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="no built-in model 'yolo'"):
        load_builtin("yolo")
    with pytest.raises(ModelError, match="built in: text, circles, faces"):
        builtin_spec("nope")


def test_text_without_its_wheel_says_which_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "rapidocr_onnxruntime" else real(name)

    monkeypatch.setattr(text_module.importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelError, match="rapidocr-onnxruntime"):
        load_builtin("text")
