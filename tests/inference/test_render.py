from __future__ import annotations

import cv2
import numpy as np

from labelbay.inference.detections import Detections
from labelbay.inference.render import class_colour, draw, render_jpeg


def test_render_draws_boxes_in_the_class_colour_and_encodes_jpeg() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    found = Detections.create(
        [[50, 60, 150, 160], [10, 10, 40, 40]], [0.9, 0.5], [0, 3], class_names=("a", "b", "c", "d")
    )
    drawn = draw(image, found)
    assert drawn.shape == image.shape
    assert not image.any()  # the input is left alone
    assert tuple(drawn[110, 50]) == class_colour(0)  # left edge of the first box
    assert tuple(drawn[25, 40]) == class_colour(3)
    jpeg = render_jpeg(image, found)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (200, 300, 3)


def test_circles_are_drawn_as_circles_and_colours_are_stable() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    found = Detections.create([[30, 30, 70, 70]], [0.8], [1], circles=[[50, 50, 20]])
    drawn = draw(image, found)
    assert drawn[50, 70].any()  # on the circle
    assert not drawn[69, 69].any()  # the box corner is not drawn
    assert class_colour(1) == class_colour(1 + 10) != class_colour(2)
