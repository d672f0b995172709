"""The YOLOv8/YOLO11-seg ONNX layout: a graph with exactly the export's two outputs and known
values gives exactly the masks they encode, through the registry and into stored labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask

from labelbay.inference.base import ModelError, ModelSpec
from labelbay.inference.registry import load_model, validate_artifact
from labelbay.inference.yolo_onnx import instance_mask
from tests.inference.conftest import constant_output_onnx

CLASSES = ("cell", "defect")
WIDTH, HEIGHT = 320, 240  # letterboxed into 640x640: scale 2, 80 px of padding above and below
ANCHORS = 64  # more anchors than rows, as in every real export (the longer axis is N)


def seg_outputs() -> dict[str, np.ndarray]:
    """Prototype 0 is +10 on prototype cells 20…59 x 40…79 and -10 elsewhere, i.e. the image
    rectangle x 40…119, y 40…119 (a cell is 2x2 image pixels; rows start 80 px / 2 = 40 cells
    down). Anchor 0 (class 0) takes the prototype inside its box x 60…199, y 20…99; anchor 1
    (class 1) its inverse inside x 100…159, y 100…139. The other anchors score 0."""
    protos = np.zeros((1, 32, 160, 160), np.float32)
    protos[0, 0] = -10.0
    protos[0, 0, 40:80, 20:60] = 10.0
    pred = np.zeros((1, 4 + len(CLASSES) + 32, ANCHORS), np.float32)
    # cx, cy, w, h in letterboxed pixels: x * 2, y * 2 + 80
    pred[0, :4, 0] = (260, 200, 280, 160)
    pred[0, 4, 0] = 0.9
    pred[0, 6, 0] = 1.0
    pred[0, :4, 1] = (260, 320, 120, 80)
    pred[0, 5, 1] = 0.8
    pred[0, 6, 1] = -1.0
    return {"output0": pred, "output1": protos}


def expected_masks() -> list[np.ndarray]:
    first = np.zeros((HEIGHT, WIDTH), np.uint8)
    first[40:100, 60:120] = 1
    second = np.zeros((HEIGHT, WIDTH), np.uint8)
    second[100:140, 100:160] = 1
    second[100:120, 100:120] = 0
    return [first, second]


@pytest.fixture
def seg_model_file(tmp_path: Path) -> Path:
    return constant_output_onnx(tmp_path / "seg.onnx", seg_outputs(), (1, 3, 640, 640))


def test_seg_graph_gives_exactly_the_encoded_masks(seg_model_file: Path) -> None:
    validate_artifact("onnx-yolo", seg_model_file)
    spec = ModelSpec(name="seg", format="onnx-yolo", path=str(seg_model_file), class_names=CLASSES)
    model = load_model(spec)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    (found,) = model.predict([image])
    assert found.class_id.tolist() == [0, 1]
    np.testing.assert_allclose(found.xyxy, [[60, 20, 200, 100], [100, 100, 160, 140]])
    assert found.masks is not None
    for mask, expected in zip(found.masks, expected_masks(), strict=True):
        assert mask is not None
        assert mask.size == [HEIGHT, WIDTH]
        np.testing.assert_array_equal(coco_mask.decode(mask.rle), expected)

    labels = found.to_labels(width=WIDTH, height=HEIGHT)
    assert [label.kind for label in labels] == ["mask", "mask"]
    assert [label.label for label in labels] == list(CLASSES)
    # Box and area come from the mask: the first mask is what its box cut out of the rectangle.
    assert labels[0].box == (60, 40, 120, 100)
    assert labels[1].area_in(WIDTH, HEIGHT) == 60 * 40 - 20 * 20


def test_masks_of_a_reduced_decode_are_scaled_to_the_image(seg_model_file: Path) -> None:
    """The pipeline decodes large images at reduced size; the masks grow back to the image."""
    spec = ModelSpec(name="seg", format="onnx-yolo", path=str(seg_model_file), class_names=CLASSES)
    (found,) = load_model(spec).predict([np.zeros((HEIGHT, WIDTH, 3), np.uint8)])
    labels = found.scaled(2.0).to_labels(width=2 * WIDTH, height=2 * HEIGHT)
    grown = coco_mask.decode(labels[0].geometry.rle)  # type: ignore[union-attr]
    expected = np.kron(expected_masks()[0], np.ones((2, 2), np.uint8))
    np.testing.assert_array_equal(grown, expected)


def test_classes_are_counted_without_the_mask_coefficients(seg_model_file: Path) -> None:
    spec = ModelSpec(name="seg", format="onnx-yolo", path=str(seg_model_file))
    (found,) = load_model(spec).predict([np.zeros((HEIGHT, WIDTH, 3), np.uint8)])
    assert found.class_id.tolist() == [0, 1]  # 38 rows - 4 - 32 = 2 classes, no names given


def test_prototypes_of_the_wrong_rank_are_refused(tmp_path: Path) -> None:
    outputs = seg_outputs()
    outputs["output1"] = outputs["output1"][0, 0]
    path = constant_output_onnx(tmp_path / "bad.onnx", outputs, (1, 3, 640, 640))
    with pytest.raises(ModelError, match="prototypes"):
        validate_artifact("onnx-yolo", path)


def test_computing_only_the_box_equals_warping_the_whole_prototype() -> None:
    """The adapter combines only the prototypes under each box; that must be the same mask as
    upsampling the whole prototype map to the image and cutting the box out of it (up to a few
    pixels within a hair of 0.5: OpenCV samples at 1/32 pixel, so another offset rounds
    differently, and these random prototypes are steep)."""
    rng = np.random.default_rng(4)
    protos = rng.normal(0, 1, (32, 160, 160)).astype(np.float32)
    width, height = 1000, 700
    ratio = 640 / width
    pad = (0, (640 - round(height * ratio)) // 2)
    meta = {"scale": (ratio, ratio), "pad": pad, "size": (width, height)}
    for _ in range(10):
        x, y = rng.uniform(-50, 900), rng.uniform(-50, 600)
        box = np.array([x, y, x + rng.uniform(5, 400), y + rng.uniform(5, 300)], np.float32)
        box = np.clip(box, 0, [width, height, width, height]).astype(np.float32)
        coefficients = rng.normal(0, 1, 32).astype(np.float32)
        got = coco_mask.decode(instance_mask(coefficients, protos, box, meta, (640, 640)).rle)

        probability = 1 / (1 + np.exp(-(coefficients @ protos.reshape(32, -1))))
        probability = probability.reshape(160, 160).astype(np.float32)
        r = 160 / 640
        pad_x, pad_y = meta["pad"]
        warp = np.array(
            [[ratio * r, 0, (0.5 * ratio + pad_x) * r - 0.5], [0, ratio * r, (0.5 * ratio + pad_y) * r - 0.5]]
        )  # fmt: skip
        whole = cv2.warpAffine(
            probability,
            warp,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        columns, rows = np.arange(width) + 0.5, np.arange(height) + 0.5
        inside = ((rows >= box[1]) & (rows <= box[3]))[:, None] & (
            (columns >= box[0]) & (columns <= box[2])
        )[None, :]
        differ = got != ((whole > 0.5) & inside)
        assert differ.sum() <= max(1, inside.sum() // 1000)
        assert np.all(np.abs(whole[differ] - 0.5) < 0.05)
