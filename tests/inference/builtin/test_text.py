"""The `text` built-in model (PP-OCRv4 from the rapidocr-onnxruntime wheel) on skimage's page().

page() is a 384x191 photo of a book page: a title, five lines of body text, a line of code, and a
cut-off caption at the bottom edge. The words checked below were read off the image by eye.
"""

from __future__ import annotations

import numpy as np
import pytest

from labelbay.inference.builtin import load_builtin
from labelbay.inference.builtin.text import TextModel
from labelbay.inference.geometry import box_iou
from tests.inference.builtin import samples

TITLE = "Region-based segmentation"
KNOWN_WORDS = ("Let us first determine", "markers", "coins", "background", "pixels", "label")
KNOWN_WORDS += ("unambiguously", "object", "extreme parts", "histogram", "zeros")


@pytest.fixture(scope="module")
def model() -> TextModel:
    loaded = load_builtin("text")
    assert isinstance(loaded, TextModel)
    return loaded


def test_reads_the_lines_of_the_page(model: TextModel) -> None:
    found = model.predict([samples.page()])[0]
    assert found.text is not None
    assert len(found) == 7, f"7 lines (title, 5 body, 1 code): {found.text}"
    assert found.text[0] == TITLE, "the title is read exactly, and first: reading order"
    assert found.text[1].startswith("Let us")
    assert (np.diff(found.xyxy[:, 1]) > 0).all(), "lines top to bottom"
    words = " ".join(found.text)
    missing = [word for word in KNOWN_WORDS if word not in words]
    assert not missing, f"{missing} not read in {found.text}"
    assert found.class_names == ("text",)
    assert (found.class_id == 0).all()
    assert ((found.confidence >= 0.6) & (found.confidence <= 1)).all()


def test_one_box_per_line_inside_the_image(model: TextModel) -> None:
    found = model.predict([samples.page()])[0]
    height, width = samples.page().shape[:2]
    assert (found.xyxy[:, :2] >= 0).all()
    assert (found.xyxy[:, 2] <= width).all()
    assert (found.xyxy[:, 3] <= height).all()
    tops = np.sort(found.xyxy[:, 1])
    assert (np.diff(tops) > 10).all(), "one box per line"
    title = found.xyxy[list(found.text or ()).index(TITLE)]
    # The title spans x 5..293, y 11..34 in page() (measured on the image).
    assert title == pytest.approx([5, 11, 293, 34], abs=4)
    body = found.xyxy[(found.xyxy[:, 2] - found.xyxy[:, 0]) > 300]
    assert len(body) == 4, "four full body lines run almost the page's full width"


def test_boxes_follow_the_image_onto_a_1080p_canvas(model: TextModel) -> None:
    small = model.predict([samples.page()])[0]
    big = samples.to_1080p(samples.page())
    found = model.predict([big.image])[0]
    assert found.text is not None
    assert len(found) == len(small)
    iou = box_iou(big.to_sample(found.xyxy), small.xyxy)
    assert (iou.max(axis=1) > 0.8).all(), "each line's box maps back onto the same line"
    assert TITLE in found.text
    assert "histogram of grey values:" in found.text, "larger glyphs read even better"


def test_detection_only_mode_gives_boxes_without_text() -> None:
    detect_only = load_builtin("text", recognize=False)
    found = detect_only.predict([samples.page()])[0]
    assert len(found) == 7
    assert set(found.text or ()) == {""}


@pytest.mark.parametrize("size", [(640, 480), (1920, 1080)])
def test_plain_grey_image_has_no_text(model: TextModel, size: tuple[int, int]) -> None:
    assert len(model.predict([samples.plain_grey(*size)])[0]) == 0


def test_a_batch_gives_one_result_per_image_in_order(model: TextModel) -> None:
    results = model.predict([samples.plain_grey(), samples.page()])
    assert [len(r) for r in results] == [0, 7]
