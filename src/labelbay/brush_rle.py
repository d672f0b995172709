"""Label Studio's brush RLE: how a `brushlabels` region stores its mask (`"format": "rle"`).

The mask is an RGBA image of the whole picture, flattened row by row (height x width x 4 values),
then packed as a bit stream, most significant bit first:

- a header: the number of values (32 bits), the word size minus 1 (5 bits), and four run-length
  field sizes minus 1 (4 bits each);
- then chunks until every value is read: a flag bit, a 2-bit index into the field sizes, and
  that many bits of a count minus 1; flag 1 is a run (one word, repeated count times), flag 0
  a literal (count words, each read as it is).

The stream is padded with zero bits to whole bytes, and the JSON holds those bytes as a list of
integers. A pixel is set where its alpha value (the fourth channel) is not 0, as Label Studio's
own converter reads it. `encode` writes what label-studio-converter's `mask2rle` writes for a mask
of 0 and 255 (255 in all four channels of a set pixel, word size 8, field sizes 3, 4, 8 and 16
bits, runs only), byte for byte; `decode` reads any word and field sizes, runs and literals, as
Label Studio's editor writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

WORD = 8
FIELDS = (3, 4, 8, 16)  # bits of a chunk's count, by the chunk's 2-bit index
SET = 255  # a set pixel's value in each channel
LONGEST = 1 << FIELDS[-1]  # values one chunk can repeat
_BLOCK = 1 << 16  # chunks turned into bits at a time (bounds the temporary arrays)


def encode(bitmap: Any) -> bytes:
    """The brush RLE of a (height, width) mask, nonzero where set."""
    pixels = (np.asarray(bitmap) != 0).ravel()
    lengths, values = _runs(pixels)
    lengths, values, wide = _split(lengths * 4, values)  # four channels of each pixel
    header = _bits(
        [len(pixels) * 4, WORD - 1, *(f - 1 for f in FIELDS)], [32, 5, *(4 for _ in FIELDS)]
    )
    # A run's count field is the smallest that holds it; every piece of a run longer than the
    # third field holds takes the widest.
    index = np.searchsorted(np.array([1 << f for f in FIELDS[:-1]]), lengths - 1, side="right")
    index[wide] = len(FIELDS) - 1
    count_bits = np.array(FIELDS)[index]
    width = 1 + 2 + count_bits + WORD
    code = (
        (1 << (width - 1)) | (index << (width - 3)) | ((lengths - 1) << WORD) | values * SET
    ).astype(np.uint64)
    parts = [header]
    for start in range(0, len(code), _BLOCK):
        parts.append(_chunk_bits(code[start : start + _BLOCK], width[start : start + _BLOCK]))
    stream = np.concatenate(parts)
    # label-studio-converter always adds 1 to 8 zero bits (a whole zero byte when aligned).
    stream = np.concatenate([stream, np.zeros(8 - len(stream) % 8, dtype=np.uint8)])
    return np.packbits(stream).tobytes()


def decode(rle: bytes, width: int, height: int) -> Any:
    """The (height, width) uint8 mask of 0 and 1 that a brush RLE holds; `ValueError` saying what
    is wrong when the bytes are not the RLE of a width x height image."""
    reader = _Reader(rle)
    total = reader.read(32)
    if total != width * height * 4:
        raise ValueError(
            f"the RLE holds {total} values, not the {width}x{height}x4 of the image's RGBA pixels"
        )
    word = reader.read(5) + 1
    fields = [reader.read(4) + 1 for _ in FIELDS]
    # Runs and literal words as (value, count) lists, expanded once at the end: a chunk costs
    # a few integer reads, not an array operation.
    words: list[int] = []
    counts: list[int] = []
    done = 0
    read = reader.read
    while done < total:
        head = read(3)  # the flag and the field index
        count = read(fields[head & 3]) + 1
        if head >> 2:
            words.append(read(word))
            counts.append(count)
        else:
            words.extend(reader.words(count, word).tolist())
            counts.extend([1] * count)
        done += count
    values = np.repeat(np.array(words, dtype=np.uint64) != 0, counts)[:total]
    return np.ascontiguousarray(values.reshape(height, width, 4)[:, :, 3]).astype(np.uint8)


def _runs(pixels: Any) -> tuple[Any, Any]:
    """Run lengths and values (0 or 1) of a flat boolean array."""
    if len(pixels) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.flatnonzero(pixels[1:] != pixels[:-1]) + 1])
    lengths = np.diff(np.concatenate([starts, [len(pixels)]]))
    return lengths.astype(np.int64), pixels[starts].astype(np.int64)


def _split(lengths: Any, values: Any) -> tuple[Any, Any, Any]:
    """Runs longer than one chunk holds as whole chunks of `LONGEST` and the rest, each piece's
    value, and whether it comes from a run too long for the third count field."""
    wide = lengths > 1 << FIELDS[-2]
    pieces = np.maximum((lengths + LONGEST - 1) // LONGEST, 1)
    if int(pieces.max(initial=1)) == 1:
        return lengths, values, wide
    last = np.cumsum(pieces) - 1
    split = np.full(int(pieces.sum()), LONGEST, dtype=np.int64)
    split[last] = lengths - (pieces - 1) * LONGEST
    return split, np.repeat(values, pieces), np.repeat(wide, pieces)


def _bits(numbers: Iterable[int], widths: Iterable[int]) -> Any:
    """The numbers as bits, each in its width, most significant first."""
    text = "".join(f"{n:0{w}b}" for n, w in zip(numbers, widths, strict=True))
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) - ord("0")


def _chunk_bits(code: Any, width: Any) -> Any:
    """Each code's low `width` bits, in order, as one bit array."""
    widest = int(width.max())
    shifts = np.arange(widest - 1, -1, -1, dtype=np.uint64)
    bits = ((code[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return bits[np.arange(widest) >= widest - width[:, None]]


class _Reader:
    """Reads unsigned numbers of up to 32 bits at a time from a bit stream."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._size = len(data) * 8
        self._at = 0

    def read(self, bits: int) -> int:
        end = self._at + bits
        if end > self._size:
            raise ValueError(f"the RLE ends at byte {len(self._data)}, before its last value")
        first, last = self._at >> 3, (end + 7) >> 3
        window = int.from_bytes(self._data[first:last], "big")
        self._at = end
        return (window >> (last * 8 - end)) & ((1 << bits) - 1)

    def words(self, count: int, bits: int) -> Any:
        """`count` numbers of `bits` bits each, as an array."""
        end = self._at + count * bits
        if end > self._size:
            raise ValueError(f"the RLE ends at byte {len(self._data)}, before its last value")
        first, last = self._at >> 3, (end + 7) >> 3
        stream = np.unpackbits(np.frombuffer(self._data[first:last], dtype=np.uint8))
        offset = self._at - first * 8
        grid = stream[offset : offset + count * bits].reshape(count, bits).astype(np.uint64)
        self._at = end
        return grid @ (np.uint64(1) << np.arange(bits - 1, -1, -1, dtype=np.uint64))
