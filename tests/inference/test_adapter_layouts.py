"""Output layouts and options of the ONNX and TorchScript adapters, on graphs with known outputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from labelbay.inference.base import ModelSpec
from labelbay.inference.registry import load_model
from tests.inference.conftest import constant_output_onnx

# Three anchors in a 320x320 letterbox, two classes; scores already sigmoid-ed (YOLOv8 layout).
# Anchors 0 and 1 overlap (IoU 0.68) in class 0; anchor 2 is the same box as 0 but class 1.
YOLO_BOXES = np.array(
    [[160, 160, 100, 100], [170, 160, 100, 100], [160, 160, 100, 100]], np.float32
)
YOLO_SCORES = np.array([[0.9, 0.8, 0.1], [0.0, 0.1, 0.6]], np.float32)


@pytest.mark.parametrize("transposed", [False, True])
def test_yolo_layout_nms_and_letterbox_mapping(tmp_path: Path, transposed: bool) -> None:
    output = np.concatenate([YOLO_BOXES.T, YOLO_SCORES])[None]  # [1, 4 + 2, 3]
    if transposed:
        output = output.transpose(0, 2, 1)  # [1, 3, 4 + 2], written by some exporters
    path = constant_output_onnx(tmp_path / "yolo.onnx", {"output0": output}, (1, 3, 320, 320))
    spec = ModelSpec(name="y", format="onnx-yolo", path=str(path), class_names=("a", "b"))
    found = load_model(spec).predict([np.zeros((320, 640, 3), np.uint8)])[0]
    # 640x320 is letterboxed at scale 1/2 with 80 px of padding above and below.
    assert found.class_id.tolist() == [0, 1]
    assert found.confidence == pytest.approx([0.9, 0.6])
    np.testing.assert_allclose(found.xyxy, [[220, 60, 420, 260], [220, 60, 420, 260]])


def test_fixed_batch_graph_is_fed_one_image_at_a_time(tmp_path: Path) -> None:
    output = np.concatenate([YOLO_BOXES.T, YOLO_SCORES])[None]
    path = constant_output_onnx(tmp_path / "yolo.onnx", {"output0": output}, (1, 3, 320, 320))
    spec = ModelSpec(name="y", format="onnx-yolo", path=str(path), class_names=("a", "b"))
    model = load_model(spec)
    results = model.predict([np.zeros((320, 320, 3), np.uint8)] * 3)
    assert [len(r) for r in results] == [2, 2, 2]


def test_detr_softmax_drops_no_object_and_reads_a_joined_output(tmp_path: Path) -> None:
    boxes = np.array([[[0.5, 0.5, 1.0, 1.0], [0.5, 0.5, 0.2, 0.2]]], np.float32)
    logits = np.array([[[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]]], np.float32)  # 2nd: mostly no-object
    path = constant_output_onnx(
        tmp_path / "detr.onnx", {"out": np.concatenate([boxes, logits], -1)}
    )
    spec = ModelSpec(
        name="d",
        format="onnx-detr",
        path=str(path),
        confidence_threshold=0.5,
        options={"score_activation": "softmax"},
    )
    found = load_model(spec).predict([np.zeros((40, 80, 3), np.uint8)])[0]
    expected = np.exp(2) / (np.exp(2) + 2)
    assert found.confidence == pytest.approx([expected])
    assert found.class_id.tolist() == [0]
    np.testing.assert_allclose(found.xyxy, [[0, 0, 80, 40]])


def test_classifier_thresholds_rows_but_keeps_the_whole_top_k(tmp_path: Path) -> None:
    logits = np.log(np.array([[0.1, 0.6, 0.3]], np.float32))
    path = constant_output_onnx(tmp_path / "cls.onnx", {"logits": logits})
    spec = ModelSpec(
        name="c",
        format="onnx-classify",
        task="classify",
        path=str(path),
        class_names=("x", "y", "z"),
        confidence_threshold=0.5,
        options={"top_k": 3},
    )
    found = load_model(spec).predict([np.zeros((10, 20, 3), np.uint8)])[0]
    assert found.class_id.tolist() == [1]
    assert [(c.class_name, round(c.score, 4)) for c in found.extra["top_k"]] == [
        ("y", 0.6),
        ("z", 0.3),
        ("x", 0.1),
    ]


class TupleDetector(torch.nn.Module):
    """Answers one batched (boxes, scores, labels) tuple for an NCHW batch."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = images.shape[0]
        boxes = torch.tensor([[[8.0, 16.0, 32.0, 48.0]]]).repeat(n, 1, 1)
        return boxes, torch.full((n, 1), 0.7), torch.ones((n, 1), dtype=torch.int64)


def test_torchscript_batched_tuple_output_scales_back(tmp_path: Path) -> None:
    path = tmp_path / "tuple.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream
        torch.jit.script(TupleDetector()).save(str(path))
    spec = ModelSpec(
        name="t",
        format="torchscript",
        path=str(path),
        input_size=(64, 64),
        options={"input": "batch", "label_offset": 1},
    )
    results = load_model(spec).predict([np.zeros((128, 256, 3), np.uint8)] * 2)
    for found in results:
        np.testing.assert_allclose(found.xyxy, [[32, 32, 128, 96]])  # x * 4, y * 2
        assert found.class_id.tolist() == [0]
