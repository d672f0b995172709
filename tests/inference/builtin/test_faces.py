"""`faces` (OpenCV's Haar frontal-face cascade) on skimage's astronaut()."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from skimage import data

from labelbay.inference.builtin import builtin_spec, load_builtin
from labelbay.inference.geometry import box_iou
from tests.inference.builtin import samples

# Eileen Collins' face in astronaut(), x1 y1 x2 y2, marked by hand: brow to chin, ear to ear.
ASTRONAUT_FACE = np.array([[170, 55, 275, 170]], np.float32)


def test_finds_the_astronauts_face() -> None:
    found = load_builtin("faces").predict([samples.astronaut()])[0]
    assert len(found) == 1
    assert found.class_names[found.class_id[0]] == "face"
    assert box_iou(found.xyxy, ASTRONAUT_FACE)[0, 0] > 0.6
    assert 0.5 < found.confidence[0] < 1


def test_finds_the_face_on_a_1080p_canvas() -> None:
    big = samples.to_1080p(samples.astronaut())
    found = load_builtin("faces").predict([big.image])[0]
    assert len(found) == 1
    assert box_iou(big.to_sample(found.xyxy), ASTRONAUT_FACE)[0, 0] > 0.6


def test_confidence_follows_the_cascades_level_weight() -> None:
    """A higher final-stage weight gives a higher confidence, inside (0, 1); 2.0 maps to 0.5."""
    model = load_builtin("faces", replace(builtin_spec("faces"), confidence_threshold=0.0))
    weights = np.array([-2.0, 0.0, 2.0, 5.0, 8.0], np.float32)
    boxes = np.array([[i, 0, i + 10, 10] for i in range(len(weights))], np.float32)
    prepared = model.pre_process([samples.plain_grey()])
    found = model.post_process([(boxes, weights)], prepared)[0]
    assert found.xyxy[:, 0].tolist() == [4, 3, 2, 1, 0], "best first, each box keeps its score"
    assert (np.diff(found.confidence) < 0).all()
    assert ((found.confidence > 0) & (found.confidence < 1)).all()
    assert found.confidence[2] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "image",
    [samples.plain_grey(), samples.plain_grey(1920, 1080), np.ascontiguousarray(data.chelsea())],
    ids=["grey", "grey-1080p", "cat"],
)
def test_no_face_where_there_is_none(image: np.ndarray) -> None:
    assert len(load_builtin("faces").predict([image])[0]) == 0
