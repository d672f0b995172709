"""Shared fixtures for the inference tests: real weights, sample photos, and model-file builders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import nudenet
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from skimage import data

from labelbay.inference.base import ModelSpec


@pytest.fixture(scope="session")
def yolo_path() -> Path:
    # nudenet is a dev dependency: without it this fails, it does not skip.
    return Path(nudenet.__file__).parent / "320n.onnx"


@pytest.fixture(scope="session")
def yolo_spec(yolo_path: Path) -> ModelSpec:
    return ModelSpec(name="nudenet", format="onnx-yolo", path=str(yolo_path))


def jpeg_bytes(rgb: np.ndarray, size: tuple[int, int] | None = None, quality: int = 92) -> bytes:
    """Encode an RGB image as JPEG, first stretched to `size` (width, height) when given."""
    if size is not None:
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return encoded.tobytes()


def sample_photos() -> dict[str, np.ndarray]:
    """A few colour photos from skimage, RGB uint8."""
    return {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}


def constant_output_onnx(
    path: Path,
    outputs: dict[str, np.ndarray],
    input_shape: Sequence[int | str] = (1, 3, 64, 64),
) -> Path:
    """Write an ONNX model with one image input whose outputs are fixed constants.

    Each output is `Identity(Constant)`; the image input is declared but unused, which ONNX allows,
    so the adapter's whole pre/post-processing runs against outputs we know exactly.
    """
    nodes = []
    graph_outputs = []
    for name, value in outputs.items():
        tensor = helper.make_tensor(
            f"{name}_value", TensorProto.FLOAT, value.shape, value.astype(np.float32).ravel()
        )
        nodes.append(helper.make_node("Constant", [], [f"{name}_const"], value=tensor))
        nodes.append(helper.make_node("Identity", [f"{name}_const"], [name]))
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))
    graph = helper.make_graph(nodes, "constant_outputs", [image], graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # old enough for any onnxruntime the project supports
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
