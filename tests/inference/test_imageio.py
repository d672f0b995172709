from __future__ import annotations

import cv2
import numpy as np
import pytest

from labelbay.inference.imageio import (
    ImageDecodeError,
    boxes_from_letterbox,
    choose_reduction,
    decode_image,
    letterbox,
    letterbox_batch,
    normalise,
    resize_batch,
)
from tests.inference.conftest import jpeg_bytes, sample_photos


@pytest.mark.parametrize(
    ("size", "min_side", "cover", "expected"),
    [
        ((1920, 1080), 320, False, 4),  # 480x270: long side 480 >= 320; 1/8 would give 240
        ((1920, 1080), 320, True, 2),  # both sides >= 320: 960x540 (1/4 gives 270 high)
        ((1920, 1080), 640, False, 2),
        ((1920, 1080), 1920, False, 1),
        ((1920, 1080), None, False, 1),
        ((4000, 3000), 320, False, 8),  # never below 1/8, the smallest DCT scale
        ((1921, 1081), 241, False, 8),  # libjpeg rounds up: ceil(1921 / 8) = 241
    ],
)
def test_choose_reduction(
    size: tuple[int, int], min_side: int | None, cover: bool, expected: int
) -> None:
    assert choose_reduction(*size, min_side, cover=cover) == expected


def test_reduced_jpeg_decode_reports_scale_and_original_size() -> None:
    photo = sample_photos()["astronaut"]
    data = jpeg_bytes(photo, (1920, 1080))
    reduced = decode_image(data, 320)
    full = decode_image(data)
    assert reduced.size == (480, 270)
    assert reduced.scale == 4.0
    assert reduced.original_size == full.original_size == full.size == (1920, 1080)
    assert full.scale == 1.0
    # The DCT-scaled image is the full image shrunk, not something else.
    shrunk = cv2.resize(full.pixels, (480, 270), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - reduced.pixels.astype(int)).mean() < 3


def test_decode_gives_rgb_order_and_three_channels() -> None:
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    pixel = decode_image(jpeg_bytes(red)).pixels[32, 32]
    assert pixel[0] > 240
    assert pixel[1] < 15
    assert pixel[2] < 15
    grey = cv2.imencode(".jpg", np.full((40, 60), 90, np.uint8))[1].tobytes()
    assert decode_image(grey, 10).pixels.shape[2] == 3
    rgba = np.dstack([red, np.full((64, 64), 128, np.uint8)])
    png = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))[1].tobytes()
    decoded = decode_image(png, 8)  # not a JPEG: reduced after decoding, alpha dropped
    assert decoded.pixels.shape == (8, 8, 3)
    assert decoded.scale == 8.0
    assert decoded.original_size == (64, 64)
    assert decoded.pixels[0, 0, 0] == 255
    assert decode_image(png).pixels.shape == (64, 64, 3)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 truncated jpeg", b"GIF89a??", b"hello"])
def test_unreadable_bytes_raise(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(data, 320)


def test_letterbox_geometry_and_padding() -> None:
    image = np.full((270, 480, 3), 255, np.uint8)
    tensor, scale, pad = letterbox(image, (320, 320))
    assert tensor.shape == (3, 320, 320)
    assert tensor.dtype == np.float32
    assert scale == pytest.approx((2 / 3, 2 / 3))
    assert pad == (0, 70)  # 320 x 180 content, centred vertically
    assert tensor[:, 0, 0] == pytest.approx([114 / 255] * 3)
    assert tensor[:, 70, 0] == pytest.approx([1.0] * 3)
    assert tensor[:, 250, 0] == pytest.approx([114 / 255] * 3)
    tall = np.full((320, 160, 3), 0, np.uint8)
    batch, scales, pads = letterbox_batch([image, tall], (320, 320))
    np.testing.assert_array_equal(batch[0], tensor)
    assert scales[1] == (1.0, 1.0)
    assert pads[1] == (80, 0)  # already the right height: padded left and right only
    assert batch[1, :, 0, 80] == pytest.approx([0.0] * 3)


def test_a_box_survives_reduced_decode_and_letterbox_round_trip() -> None:
    """A white rectangle in a 1080p JPEG, found in the model tensor, maps back to where it was."""
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    canvas[400:700, 800:1200] = 255
    decoded = decode_image(jpeg_bytes(canvas), 320)
    tensor, scale, pad = letterbox(decoded.pixels, (320, 320))
    ys, xs = np.nonzero(tensor[0] > 0.5)
    found = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    back = boxes_from_letterbox([found], scale, pad)[0] * decoded.scale
    assert back == pytest.approx([800, 400, 1200, 700], abs=8)  # 1 tensor px = 6 original px


def test_resize_batch_and_normalise() -> None:
    image = np.full((100, 200, 3), 51, np.uint8)  # 51 / 255 = 0.2
    batch, scales = resize_batch([image], (64, 32))
    assert batch.shape == (1, 3, 32, 64)
    assert scales == [(64 / 200, 32 / 100)]
    normalise(batch, mean=[0.1, 0.2, 0.3], std=[0.5, 0.5, 0.5])
    assert batch[0, :, 0, 0] == pytest.approx([0.2, 0.0, -0.2], abs=1e-6)
