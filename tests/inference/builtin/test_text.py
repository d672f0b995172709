"""The `text` built-in model (PP-OCRv4 from the rapidocr-onnxruntime wheel) on skimage's page().

page() is a 384x191 photo of a book page: a title, five lines of body text, a line of code, and a
cut-off caption at the bottom edge. The words checked below were read off the image by eye.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from labelbay.inference.builtin import load_builtin
from labelbay.inference.builtin.text import TextModel, width_groups
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


# -- the recogniser in batches ----------------------------------------------------------------------

PAGE_LINE_WIDTHS = [475, 639, 656, 726, 821, 860, 1000]  # page()'s lines at the recogniser's height


@pytest.mark.parametrize(
    ("widths", "size", "pad", "groups"),
    [
        (PAGE_LINE_WIDTHS, 6, 0.1, [[0], [1, 2], [3], [4, 5], [6]]),
        (PAGE_LINE_WIDTHS, 1, 0.1, [[i] for i in range(7)]),
        (PAGE_LINE_WIDTHS, 6, 1e9, [[0, 1, 2, 3, 4, 5], [6]]),  # PP-OCR's batches
        ([900, 100, 905, 102, 2000], 6, 0.1, [[1, 3], [0, 2], [4]]),  # narrowest first
        ([500, 500, 500, 500], 3, 0.0, [[0, 1, 2], [3]]),
        ([], 6, 0.1, []),
    ],
)
def test_lines_share_a_recogniser_run_only_with_lines_of_similar_width(
    widths: list[int], size: int, pad: float, groups: list[list[int]]
) -> None:
    assert width_groups(widths, size, pad) == groups


def test_batched_recognition_reads_the_page_as_one_by_one(model: TextModel) -> None:
    """page() has two pairs of lines within 10% of each other's width: each pair shares a run.

    The recogniser mixes context along the whole line, so padding can change a read: here it
    turns one "(" of the code line into a full-width one (U+FF08; 1 character of 326), and nothing
    else.
    """
    one_by_one = model.predict([samples.page()])[0]
    batched = load_builtin("text", rec_batch=6).predict([samples.page()])[0]
    assert one_by_one.text is not None
    assert batched.text is not None
    np.testing.assert_array_equal(batched.xyxy, one_by_one.xyxy)
    changed = [(a, b) for a, b in zip(one_by_one.text, batched.text, strict=True) if a != b]
    assert len(changed) <= 1, changed
    for before, after in changed:
        assert len(before) == len(after)
        assert sum(x != y for x, y in zip(before, after, strict=True)) == 1, (before, after)


RENDERED = ("OK", "Invoice 2024", "Invoice 2025", "labelbay reads every line of this page")


def rendered_lines() -> np.ndarray:
    """Black text on white, lines of very different widths, two of them of exactly equal width."""
    image = np.full((60 + 70 * len(RENDERED), 1400, 3), 255, np.uint8)
    for row, line in enumerate(RENDERED):
        cv2.putText(
            image,
            line,
            (30, 70 + 70 * row),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.4,
            (0, 0, 0),
            3,
            cv2.LINE_AA,
        )
    return image


def test_batching_lines_of_very_different_widths_reads_them_as_one_by_one(
    model: TextModel,
) -> None:
    """The lines are 62, 281, 281 and 748 px wide at the recogniser's height: the two invoices share
    a run at any `rec_pad`; with PP-OCR's unbounded padding "OK" is padded to 12x its width."""
    image = rendered_lines()
    one_by_one = model.predict([image])[0]
    assert list(one_by_one.text or ()) == list(RENDERED), "each rendered line is read exactly"
    for pad in (0.0, 0.1, 1e9):
        batched = load_builtin("text", rec_batch=6, rec_pad=pad).predict([image])[0]
        assert list(batched.text or ()) == list(RENDERED), f"rec_pad={pad}"
