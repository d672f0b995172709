"""The Open Inference Protocol's binary tensor data extension, as bytes in and bytes out.

A request may carry its tensors as raw bytes after the JSON: the `Inference-Header-Content-Length`
header gives the JSON's length, and each input that is binary says how many bytes it takes with the
`binary_data_size` parameter, in the order the inputs are listed. An answer does the same for the
outputs asked for as binary. Tensor bytes are little-endian, row-major, without padding; a BYTES
element is a 4-byte little-endian length followed by its bytes. No FastAPI here: the route maps
`TensorError` to a 400.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSION = "binary_tensor_data"
SIZE_PARAMETER = "binary_data_size"
# The fixed-size datatypes of the protocol, as little-endian numpy types.
DTYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


class TensorError(ValueError):
    """The request's binary part does not fit what its JSON says (a 400)."""


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON, tensor bytes) of a request body; all of it is JSON without the header."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not text.isdigit():
        raise TensorError(f"{HEADER_LENGTH} must be a byte count, not {header_length!r}")
    length = int(text)
    if length == 0 or length > len(body):
        raise TensorError(
            f"{HEADER_LENGTH} is {length}, but the body has {len(body)} bytes; "
            "it must be the length of the JSON header that starts the body"
        )
    return body[:length], body[length:]


def binary_size(name: str, parameters: dict[str, Any] | None) -> int | None:
    """The input's `binary_data_size`, or None when its data is in the JSON."""
    if not parameters or SIZE_PARAMETER not in parameters:
        return None
    size = parameters[SIZE_PARAMETER]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise TensorError(f"input {name!r}: {SIZE_PARAMETER} must be a byte count, not {size!r}")
    return size


def slice_inputs(sizes: Sequence[int | None], raw: bytes) -> list[bytes | None]:
    """Each input's bytes out of the binary part, in the order the inputs are listed."""
    if raw and not any(size is not None for size in sizes):
        raise TensorError(
            f"the body has {len(raw)} bytes after the JSON header, but no input has "
            f"{SIZE_PARAMETER}"
        )
    wanted = sum(size or 0 for size in sizes)
    if wanted != len(raw):
        raise TensorError(
            f"the inputs' {SIZE_PARAMETER} add up to {wanted} bytes, but {len(raw)} bytes follow "
            f"the JSON header"
        )
    parts: list[bytes | None] = []
    offset = 0
    for size in sizes:
        if size is None:
            parts.append(None)
            continue
        parts.append(raw[offset : offset + size])
        offset += size
    return parts


def decode(name: str, datatype: str, shape: Sequence[int], raw: bytes) -> npt.NDArray[Any]:
    """A binary tensor as an array of its shape (BYTES as an object array of `bytes`)."""
    if any(d < 0 for d in shape):
        raise TensorError(f"input {name!r} has a negative dimension in its shape {list(shape)}")
    count = math.prod(shape)
    if datatype == "BYTES":
        elements = _bytes_elements(name, raw)
        if len(elements) != count:
            raise TensorError(
                f"input {name!r} holds {len(elements)} BYTES elements; shape {list(shape)} "
                f"needs {count}"
            )
        return np.array(elements, dtype=object).reshape(shape)
    dtype = DTYPES.get(datatype)
    if dtype is None:
        raise TensorError(f"input {name!r} has an unknown datatype {datatype!r}")
    itemsize = np.dtype(dtype).itemsize
    if len(raw) != count * itemsize:
        raise TensorError(
            f"input {name!r} has {len(raw)} bytes; {datatype} {list(shape)} needs "
            f"{count * itemsize}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _bytes_elements(name: str, raw: bytes) -> list[bytes]:
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise TensorError(f"input {name!r}: a BYTES element's 4-byte length is cut short")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise TensorError(
                f"input {name!r}: a BYTES element says {length} bytes, {len(raw) - offset} remain"
            )
        elements.append(raw[offset : offset + length])
        offset += length
    return elements


def encode(datatype: str, array: npt.NDArray[Any] | Sequence[str]) -> bytes:
    """A tensor's binary form (BYTES elements as UTF-8 text or bytes, each after its length)."""
    if datatype == "BYTES":
        parts = []
        for item in np.asarray(array, dtype=object).ravel():
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DTYPES[datatype]).tobytes()


def join(header: dict[str, Any], raw: Sequence[bytes]) -> tuple[bytes, int]:
    """(body, JSON length) of an answer: the JSON header and then the binary outputs."""
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    return text + b"".join(raw), len(text)
