"""The `text` built-in model (PP-OCRv4 from the rapidocr-onnxruntime wheel) on skimage's page()."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from skimage import data as samples

from labelbay.inference.builtin import load_builtin
from labelbay.inference.builtin.text import TextModel

KNOWN_WORDS = ("Region-based", "segmentation", "markers", "coins", "background", "histogram")


@pytest.fixture(scope="module")
def model() -> TextModel:
    loaded = load_builtin("text")
    assert isinstance(loaded, TextModel)
    return loaded


def page_rgb(size: tuple[int, int] | None = None) -> np.ndarray:
    gray = samples.page()
    if size is not None:
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC)
    return np.stack([gray] * 3, axis=-1)


def test_reads_the_lines_of_the_page(model: TextModel) -> None:
    found = model.predict([page_rgb()])[0]
    assert found.text is not None
    height, width = samples.page().shape
    assert len(found) >= 5, found.text
    words = " ".join(found.text)
    for word in KNOWN_WORDS:
        assert word in words, f"{word!r} not read in {found.text}"
    assert (found.xyxy[:, :2] >= 0).all()
    assert (found.xyxy[:, 2] <= width).all()
    assert (found.xyxy[:, 3] <= height).all()
    tops = np.sort(found.xyxy[:, 1])
    assert (np.diff(tops) > 5).all(), "one box per line, lines don't overlap"
    assert found.class_names == ("text",)


def test_boxes_follow_the_image_size(model: TextModel) -> None:
    height, width = samples.page().shape
    small = model.predict([page_rgb()])[0]
    big = model.predict([page_rgb((width * 5, height * 5))])[0]
    assert big.text is not None
    assert "segmentation" in " ".join(big.text)
    title_small = small.xyxy[next(i for i, t in enumerate(small.text or ()) if "Region" in t)]
    title_big = big.xyxy[next(i for i, t in enumerate(big.text) if "Region" in t)]
    assert title_big / 5 == pytest.approx(title_small, abs=4)


def test_detection_only_mode_and_empty_image(model: TextModel) -> None:
    blank = np.full((480, 640, 3), 200, np.uint8)
    assert len(model.predict([blank])[0]) == 0
    detect_only = load_builtin("text", replace(model.spec, options={"recognize": False}))
    found = detect_only.predict([page_rgb()])[0]
    assert len(found) >= 5
    assert set(found.text or ()) == {""}
