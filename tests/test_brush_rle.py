"""Label Studio's brush RLE, judged by Label Studio's own converter (`label_studio_converter.brush`,
installed by `make install-dev`): its decoder reads what labelbay writes back to the same mask,
its encoder writes the same bytes for the same mask, and labelbay reads what it writes, colour and
semi-transparent edges included. Hand-worked streams pin the format itself, and bad streams are
refused with their reason."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from labelbay import brush_rle

with contextlib.redirect_stdout(io.StringIO()):  # its package prints that ujson is missing
    from label_studio_converter import brush as ls_brush


def _disc(width: int, height: int) -> np.ndarray:
    y, x = np.ogrid[:height, :width]
    radius = min(width, height) / 3
    return (((x - width / 2) ** 2 + (y - height / 2) ** 2) <= radius**2).astype(np.uint8)


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    found = []
    for height, width in [(1, 1), (1, 2), (3, 5), (64, 96), (90, 120), (17, 1000)]:
        found += [
            np.zeros((height, width), np.uint8),
            np.ones((height, width), np.uint8),
            (rng.random((height, width)) > 0.5).astype(np.uint8),
            _disc(width, height),
        ]
    # Runs longer than one chunk holds (65,536 values): split into several chunks.
    wide = np.zeros((300, 400), np.uint8)
    wide[20:280, 10:390] = 1
    return [*found, wide, np.ones((300, 400), np.uint8)]


MASKS = _masks()


@pytest.mark.parametrize("mask", MASKS, ids=[f"{m.shape}-{i}" for i, m in enumerate(MASKS)])
def test_label_studio_reads_what_labelbay_writes(mask: np.ndarray) -> None:
    ours = brush_rle.encode(mask)
    height, width = mask.shape
    rgba = ls_brush.decode_rle(list(ours)).reshape(height, width, 4)
    assert (rgba[:, :, 3] > 0).tolist() == (mask > 0).tolist()
    # Every channel holds 255 where set, as label-studio-converter's mask2rle writes a 0/255 mask.
    assert bytes(ls_brush.mask2rle(mask * 255)) == ours


@pytest.mark.parametrize("mask", MASKS, ids=[f"{m.shape}-{i}" for i, m in enumerate(MASKS)])
def test_labelbay_reads_what_label_studio_writes(mask: np.ndarray) -> None:
    height, width = mask.shape
    theirs = bytes(ls_brush.mask2rle(mask * 255))
    np.testing.assert_array_equal(brush_rle.decode(theirs, width, height), mask)


def test_a_coloured_brush_with_soft_edges_is_set_where_alpha_is_not_zero() -> None:
    """The editor's strokes: a colour in RGB and an alpha that fades at the edge. The converter's
    encoder writes a lone value as a one-word literal chunk."""
    height, width = 40, 50
    disc = _disc(width, height)
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[disc > 0] = (30, 144, 255, 255)
    edge = (disc == 0) & (np.roll(disc, 1, axis=1) > 0)
    rgba[edge] = (30, 144, 255, 7)  # barely visible, still set
    rgba[0, 0] = (200, 100, 50, 0)  # a colour with no alpha: not set
    theirs = bytes(ls_brush.encode_rle(rgba.ravel()))
    want = ((disc > 0) | edge).astype(np.uint8)
    np.testing.assert_array_equal(brush_rle.decode(theirs, width, height), want)


def _stream(*fields: str) -> bytes:
    """Bits written out by hand (spaces for reading), padded with zeros to whole bytes."""
    bits = "".join(fields).replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


# A 2x1 image, left pixel set: 8 values (RGBA twice), 8-bit words, count fields of 3, 4, 8, 16 bits.
HEADER_2X1 = ("0" * 28 + "1000", "00111", "0010 0011 0111 1111")


def test_a_hand_worked_stream() -> None:
    runs = (
        "1 00 011 11111111",  # a run (1), field 0 (3 bits): 3 + 1 = 4 values of 255
        "1 00 011 00000000",  # then 4 values of 0
    )
    # label-studio-converter pads with 1 to 8 bits: 53 + 28 = 81 bits, 7 more.
    want = _stream(*HEADER_2X1, *runs)
    assert len(want) == 11
    assert brush_rle.encode(np.array([[1, 0]])) == want
    np.testing.assert_array_equal(brush_rle.decode(want, 2, 1), [[1, 0]])


def test_literal_chunks_and_other_word_and_field_sizes() -> None:
    literal = _stream(
        *HEADER_2X1,
        "0 00 111",  # a literal (0), field 0: 7 + 1 = 8 words follow
        "00001010 00010100 00011110 00000000",  # R, G, B, alpha 0: not set
        "00001010 00010100 00011110 10000000",  # alpha 128: set
    )
    np.testing.assert_array_equal(brush_rle.decode(literal, 2, 1), [[0, 1]])
    one_bit = _stream(
        "0" * 28 + "1000",
        "00000",  # 1-bit words
        "0000 0001 0010 0011",  # count fields of 1, 2, 3 and 4 bits
        "1 01 11 0",  # a run, field 1 (2 bits): 4 values of 0
        "1 01 11 1",  # 4 values of 1
    )
    np.testing.assert_array_equal(brush_rle.decode(one_bit, 2, 1), [[0, 1]])


@pytest.mark.parametrize(
    ("rle", "width", "height", "reason"),
    [
        (b"", 2, 1, "the RLE ends at byte 0"),
        (_stream(*HEADER_2X1), 2, 1, "the RLE ends at byte 7, before its last value"),
        (_stream(*HEADER_2X1, "1 00 011 11111111"), 2, 1, "before its last value"),
        (_stream(*HEADER_2X1, "0 00 111", "00001010"), 2, 1, "before its last value"),
        (_stream(*HEADER_2X1), 1, 1, "holds 8 values, not the 1x1x4 of the image's RGBA"),
        (brush_rle.encode(np.ones((4, 4))), 8, 3, "holds 64 values, not the 8x3x4"),
    ],
)
def test_a_bad_stream_is_refused_with_its_reason(
    rle: bytes, width: int, height: int, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        brush_rle.decode(rle, width, height)
