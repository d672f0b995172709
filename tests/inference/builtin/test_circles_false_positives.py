"""`circles` where there are no coins: uniform noise, and photos of people, cats and cups.

In noise edges line up into circles somewhere. Two tests keep them out: Canny's threshold rises with
the image's median gradient (so the transform does not vote in an image that is all texture), and the
confidence counts a rim point only where its edge stands out of the texture around that circle (so a
noisy patch in a plain image, where the median stays low, is turned down too).

The photos' round objects were judged by eye on the detections drawn with `inference.render`: the
only circles above 0.5 are astronaut()'s mission patch and chelsea()'s left eye. Below 0.5 remain the
astronaut's neck ring (0.43, twice) and glove cuff (0.46), chelsea's right eye (0.42, 0.34) and the
bowl of coffee()'s spoon (0.49).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from labelbay.inference.builtin import builtin_spec, load_builtin
from labelbay.inference.imageio import decode_image
from tests.inference.builtin import samples

NOISE_SIZES = [(100, 100), (200, 150), (320, 240), (640, 480), (1280, 720), (1920, 1080)]

# (cx, cy, r) in the photo's pixels of each round object a confident circle lies on.
ROUND_OBJECTS = {
    "astronaut": [(171, 386, 38)],  # the mission patch on the chest
    "chelsea": [(171, 113, 29)],  # the cat's left eye (its iris)
    "coffee": [],  # the cup and saucer are ellipses in this view; the spoon's bowl scores 0.49
}


@pytest.mark.parametrize("extension", [".jpg", ".png"])
@pytest.mark.parametrize(("width", "height"), NOISE_SIZES)
def test_uploaded_noise_has_no_circle(width: int, height: int, extension: str) -> None:
    """Decoded as an upload is: at the reduced JPEG scale the model asks for."""
    model = load_builtin("circles")
    for seed in range(3):
        data = samples.encode(samples.uniform_noise(width, height, seed), extension)
        image = decode_image(data, model.preferred_side).pixels
        found = model.predict([image])[0]
        assert len(found) == 0, f"seed {seed}: {found.circles} scored {found.confidence}"


@pytest.mark.parametrize("grain", [4, 8, 16])
def test_coarse_noise_on_a_1080p_canvas_has_no_circle(grain: int) -> None:
    """Noise whose specks are as big as coins at 1080p: what a small image is after enlargement."""
    specks = samples.uniform_noise(1920 // grain, 1080 // grain, grain)
    image = cv2.resize(specks, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    model = load_builtin("circles")
    found = model.predict(
        [decode_image(samples.encode(image, ".jpg"), model.preferred_side).pixels]
    )
    assert len(found[0]) == 0


@pytest.mark.parametrize("grain", [2, 4])
@pytest.mark.parametrize(("width", "height"), [(320, 240), (480, 360)])
def test_a_noisy_patch_in_a_plain_image_scores_low(grain: int, width: int, height: int) -> None:
    """Most of the image is plain, so its median gradient (and Canny's threshold) stays low and
    the transform proposes circles in the patch; their rims do not stand out of the patch."""
    image = samples.plain_grey(640, 480)
    specks = samples.uniform_noise(width // grain, height // grain, 0)
    image[:height, :width] = cv2.resize(specks, (width, height), interpolation=cv2.INTER_NEAREST)
    everything = replace(builtin_spec("circles"), confidence_threshold=0.0)
    found = load_builtin("circles", everything).predict([image])[0]
    assert len(found) > 40, "the transform sees circles in the patch"
    assert found.confidence.max() < 0.25, "none has the rim support of a real one"
    assert len(load_builtin("circles").predict([image])[0]) == 0


@pytest.mark.parametrize("name", ROUND_OBJECTS)
def test_photo_circles_above_half_lie_on_round_objects(name: str) -> None:
    found = load_builtin("circles").predict([getattr(samples, name)()])[0]
    assert found.circles is not None
    confident = found.circles[found.confidence > 0.5]
    expected = np.array(ROUND_OBJECTS[name], np.float32).reshape(-1, 3)
    assert len(confident) == len(expected), f"{name}: {confident} above 0.5"
    assert np.allclose(confident, expected, atol=3), f"{name}: {confident} is off {expected}"
