"""A SAM-shaped model pair built with onnx.helper: the exact input and output names and shapes of
SAM's ONNX export, with outputs simple enough to predict by hand.

- encoder `[1, 3, 1024, 1024]` -> `image_embeddings` `[1, 256, 64, 64]`: every value is the mean
  of the input tensor over channels in each 16x16 cell (so the embedding's mean is the mean of
  the prepared image, padding included);
- decoder: `masks` `[1, 1, H, W]` at `orig_im_size` = the disk around the first click, mapped back
  to image pixels by `1024 / max(H, W)`, of radius `RADIUS_BASE + RADIUS_PER_MEAN * mean(embedding)`
  (a logit of `radius² - distance²`); `iou_predictions` `[1, 1]`; `low_res_masks` zeros.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper

RADIUS_BASE = 10.0
RADIUS_PER_MEAN = 20.0
PIXEL_MEAN = (123.675, 116.28, 103.53)  # SAM's, written out here, not imported from labelbay
PIXEL_STD = (58.395, 57.12, 57.375)
OPSET = 17


def _const(name: str, values: npt.ArrayLike, dtype: type = np.float32) -> onnx.NodeProto:
    array = np.asarray(values, dtype=dtype)
    return helper.make_node(
        "Constant", [], [name], value=onnx.numpy_helper.from_array(array, name=name + "_value")
    )


def encoder() -> onnx.ModelProto:
    nodes = [
        helper.make_node(
            "AveragePool", ["image"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]
        ),
        helper.make_node("ReduceMean", ["pooled"], ["grey"], axes=[1], keepdims=1),
        _const("shape", [1, 256, 64, 64], np.int64),
        helper.make_node("Expand", ["grey", "shape"], ["image_embeddings"]),
    ]
    graph = helper.make_graph(
        nodes,
        "sam_encoder_test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 1024, 1024])],
        [helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 256, 64, 64])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def decoder() -> onnx.ModelProto:
    f = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("image_embeddings", f, [1, 256, 64, 64]),
        helper.make_tensor_value_info("point_coords", f, [1, "points", 2]),
        helper.make_tensor_value_info("point_labels", f, [1, "points"]),
        helper.make_tensor_value_info("mask_input", f, [1, 1, 256, 256]),
        helper.make_tensor_value_info("has_mask_input", f, [1]),
        helper.make_tensor_value_info("orig_im_size", f, [2]),
    ]
    outputs = [
        helper.make_tensor_value_info("masks", f, [1, 1, "height", "width"]),
        helper.make_tensor_value_info("iou_predictions", f, [1, 1]),
        helper.make_tensor_value_info("low_res_masks", f, [1, 1, 256, 256]),
    ]
    nodes = [
        _const("zero_i", 0, np.int64),
        _const("one_i", 1, np.int64),
        _const("zero_f", 0.0),
        _const("one_f", 1.0),
        _const("side", 1024.0),
        _const("base", RADIUS_BASE),
        _const("per_mean", RADIUS_PER_MEAN),
        _const("axis0", [0], np.int64),
        _const("axis1", [1], np.int64),
        _const("axes01", [0, 1], np.int64),
        # image size and the resize factor SAM applied
        helper.make_node("Gather", ["orig_im_size", "zero_i"], ["height"]),
        helper.make_node("Gather", ["orig_im_size", "one_i"], ["width"]),
        helper.make_node("ReduceMax", ["orig_im_size"], ["longest"], keepdims=0),
        helper.make_node("Div", ["side", "longest"], ["scale"]),
        # the first click, back in image pixels
        helper.make_node("Gather", ["point_coords", "zero_i"], ["clicks"]),
        helper.make_node("Gather", ["clicks", "zero_i"], ["first"]),
        helper.make_node("Gather", ["first", "zero_i"], ["cx_scaled"]),
        helper.make_node("Gather", ["first", "one_i"], ["cy_scaled"]),
        helper.make_node("Div", ["cx_scaled", "scale"], ["cx"]),
        helper.make_node("Div", ["cy_scaled", "scale"], ["cy"]),
        # radius from the embedding
        helper.make_node("ReduceMean", ["image_embeddings"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "per_mean"], ["grow"]),
        helper.make_node("Add", ["base", "grow"], ["radius"]),
        helper.make_node("Mul", ["radius", "radius"], ["radius2"]),
        # distance² over the pixel grid
        helper.make_node("Range", ["zero_f", "width", "one_f"], ["xs"]),
        helper.make_node("Range", ["zero_f", "height", "one_f"], ["ys"]),
        helper.make_node("Sub", ["xs", "cx"], ["dx"]),
        helper.make_node("Sub", ["ys", "cy"], ["dy"]),
        helper.make_node("Mul", ["dx", "dx"], ["dx2"]),
        helper.make_node("Mul", ["dy", "dy"], ["dy2"]),
        helper.make_node("Unsqueeze", ["dx2", "axis0"], ["row"]),
        helper.make_node("Unsqueeze", ["dy2", "axis1"], ["column"]),
        helper.make_node("Add", ["row", "column"], ["d2"]),
        helper.make_node("Sub", ["radius2", "d2"], ["logit"]),
        # the unused prompts still flow in (times zero), as inputs a real decoder reads
        helper.make_node("ReduceSum", ["mask_input"], ["mask_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["has_mask_input"], ["has_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["point_labels"], ["label_sum"], keepdims=0),
        helper.make_node("Add", ["mask_sum", "has_sum"], ["unused_a"]),
        helper.make_node("Add", ["unused_a", "label_sum"], ["unused"]),
        helper.make_node("Mul", ["unused", "zero_f"], ["nothing"]),
        helper.make_node("Add", ["logit", "nothing"], ["logit_all"]),
        helper.make_node("Unsqueeze", ["logit_all", "axes01"], ["masks"]),
        _const("iou_predictions", [[0.9]]),
        _const("low_res_masks", np.zeros((1, 1, 256, 256))),
    ]
    graph = helper.make_graph(nodes, "sam_decoder_test", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def write_zip(path: Path, *, encoder_model: onnx.ModelProto | None = None,
              decoder_model: onnx.ModelProto | None = None, skip: str | None = None) -> Path:  # fmt: skip
    """The artifact `labelbay models add … --format onnx-sam` takes: encoder.onnx + decoder.onnx."""
    members = {
        "encoder.onnx": (encoder_model or encoder()).SerializeToString(),
        "decoder.onnx": (decoder_model or decoder()).SerializeToString(),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            if name != skip:
                archive.writestr(name, data)
    return path


def expected_mask(
    grey: int, size: tuple[int, int], click: tuple[float, float]
) -> npt.NDArray[np.bool_]:
    """The mask the pair gives for a uniform `grey` image of `size` (width, height) and one click,
    worked out from SAM's documented preprocessing: resize the longest side to 1024, normalise
    with SAM's mean and std, zero-pad to 1024 x 1024."""
    width, height = size
    scale = 1024 / max(width, height)
    new_w, new_h = int(width * scale + 0.5), int(height * scale + 0.5)
    normalised = [(grey - m) / s for m, s in zip(PIXEL_MEAN, PIXEL_STD, strict=True)]
    mean = float(np.mean(normalised)) * (new_w * new_h) / (1024 * 1024)
    radius = RADIUS_BASE + RADIUS_PER_MEAN * mean
    # the click as SAM scales it (ResizeLongestSide.apply_coords), then back by 1024 / longest
    cx = click[0] * (new_w / width) / scale
    cy = click[1] * (new_h / height) / scale
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.asarray((xs - cx) ** 2 + (ys - cy) ** 2 < radius**2)
