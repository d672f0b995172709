"""Model adapters: real YOLOv8 weights, ONNX graphs with known outputs, a scripted TorchScript
module, bad model files, and the pipeline against a full-size decode."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import nudenet
import numpy as np
import pytest
import torch
from skimage import data as samples

from labelbay.inference.base import ModelError, ModelSpec
from labelbay.inference.geometry import box_iou, nms
from labelbay.inference.pipeline import label_stream
from labelbay.inference.registry import load_model, validate_artifact
from tests.inference.conftest import constant_output_onnx

YOLO_FILE = Path(nudenet.__file__).parent / "320n.onnx"
ASTRONAUT_FACE = np.array([[170, 55, 275, 170]], np.float32)  # x1 y1 x2 y2, by hand


def test_yolo_finds_the_astronauts_face() -> None:
    model = load_model(ModelSpec(name="yolo", format="onnx-yolo", path=str(YOLO_FILE)))
    found = model.predict([samples.astronaut()])[0]
    faces = [i for i in range(len(found)) if "FACE" in found.name_of(int(found.class_id[i]))]
    assert faces, [found.name_of(int(c)) for c in found.class_id]
    best = max(faces, key=lambda i: found.confidence[i])
    assert box_iou(found.xyxy[[best]], ASTRONAUT_FACE)[0, 0] > 0.5
    assert found.confidence[best] > 0.4


def test_yolo_batches_and_maps_back_to_each_image() -> None:
    model = load_model(ModelSpec(name="yolo", format="onnx-yolo", path=str(YOLO_FILE)))
    astronaut = samples.astronaut()
    big = cv2.resize(astronaut, (1024, 1024))
    grey = np.full((300, 500, 3), 128, np.uint8)
    small, large, nothing = model.predict([astronaut, big, grey])
    assert len(nothing) == 0
    face = small.xyxy[np.argmax(small.confidence)]
    assert large.xyxy[np.argmax(large.confidence)] / 2 == pytest.approx(face, abs=6)


def test_a_cpu_batch_runs_in_pairs_with_the_whole_batch_answers() -> None:
    photos = [samples.astronaut(), samples.coffee(), samples.chelsea(), samples.rocket()]
    photos.append(photos[0][:, ::-1].copy())  # five: two pairs and a single image
    found = {}
    for run_images in (None, 0):  # the CPU default (2 per run), then the whole batch in one run
        options = {} if run_images is None else {"run_images": run_images}
        spec = ModelSpec(name="yolo", format="onnx-yolo", path=str(YOLO_FILE), options=options)
        model = load_model(spec)
        assert model.run_images == (2 if run_images is None else None)  # type: ignore[attr-defined]
        found[run_images] = model.predict(photos)
    for pairs, whole in zip(found[None], found[0], strict=True):
        assert pairs.class_id.tolist() == whole.class_id.tolist()
        np.testing.assert_allclose(pairs.xyxy, whole.xyxy, atol=1e-3)


def test_pipeline_reduced_decode_gives_the_full_decode_boxes(tmp_path: Path) -> None:
    model = load_model(ModelSpec(name="yolo", format="onnx-yolo", path=str(YOLO_FILE)))
    rgb = cv2.resize(samples.astronaut(), (1920, 1080))
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    full = model.predict([cv2.imdecode(jpeg, cv2.IMREAD_COLOR_RGB)])[0]
    (result,) = list(label_stream(model, [("a", jpeg.tobytes())]))
    assert (result.width, result.height) == (1920, 1080)
    assert result.detections is not None
    best_full = full.xyxy[[np.argmax(full.confidence)]]
    best_piped = result.detections.xyxy[[np.argmax(result.detections.confidence)]]
    assert box_iou(best_full, best_piped)[0, 0] > 0.9
    (bad,) = list(label_stream(model, [("b", b"not an image")]))
    assert bad.detections is None
    assert bad.error


def test_detr_layout_gives_exactly_the_known_boxes(tmp_path: Path) -> None:
    path = tmp_path / "detr.onnx"
    boxes = np.array([[[0.5, 0.5, 0.2, 0.4], [0.25, 0.25, 0.1, 0.1], [0.8, 0.8, 0.1, 0.1]]])
    logits = np.array([[[4.0, -4.0], [-4.0, 3.0], [-5.0, -5.0]]])  # last query: nothing
    constant_output_onnx(path, {"pred_boxes": boxes.astype(np.float32), "pred_logits": logits})
    validate_artifact("onnx-detr", path)
    model = load_model(
        ModelSpec(name="detr", format="onnx-detr", path=str(path), class_names=("cat", "dog"))
    )
    found = model.predict([np.zeros((100, 200, 3), np.uint8)])[0]
    assert len(found) == 2
    order = np.argsort(found.class_id)
    assert found.xyxy[order] == pytest.approx(np.array([[80, 30, 120, 70], [40, 20, 60, 30]]))
    assert [found.name_of(int(c)) for c in found.class_id[order]] == ["cat", "dog"]
    expected = 1 / (1 + np.exp(-np.array([4.0, 3.0])))
    assert found.confidence[order] == pytest.approx(expected, rel=1e-5)


def test_classifier_gives_softmax_top_k(tmp_path: Path) -> None:
    path = tmp_path / "cls.onnx"
    logits = np.array([[1.0, 3.0, 2.0]], np.float32)
    constant_output_onnx(path, {"logits": logits})
    model = load_model(
        ModelSpec(
            name="cls",
            format="onnx-classify",
            task="classify",
            path=str(path),
            class_names=("a", "b", "c"),
            confidence_threshold=0.0,
            options={"top_k": 2},
        )
    )
    found = model.predict([np.zeros((50, 80, 3), np.uint8)])[0]
    probabilities = np.exp(logits[0]) / np.exp(logits[0]).sum()
    assert [found.name_of(int(c)) for c in found.class_id] == ["b", "c"]
    assert found.confidence == pytest.approx(probabilities[[1, 2]], rel=1e-5)
    assert found.xyxy[0] == pytest.approx([0, 0, 80, 50])


class FixedDetector(torch.nn.Module):
    """The old Batch Labeling service's model interface: a list of images in, per image boxes,
    scores and labels out."""

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out: list[dict[str, torch.Tensor]] = []
        for image in images:
            height, width = image.shape[1], image.shape[2]
            box = torch.tensor([[0.1 * width, 0.2 * height, 0.5 * width, 0.6 * height]])
            out.append(
                {
                    "boxes": torch.cat([box, box + 1.0]),
                    "scores": torch.tensor([0.9, 0.1]),
                    "labels": torch.tensor([2, 1]),
                }
            )
        return out


def test_torchscript_detector(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # torch.jit.script is deprecated upstream
        torch.jit.script(FixedDetector()).save(str(path))
    validate_artifact("torchscript", path)
    model = load_model(
        ModelSpec(
            name="ts",
            format="torchscript",
            path=str(path),
            class_names=("background", "cat", "dog"),
            confidence_threshold=0.5,
        )
    )
    found = model.predict([np.zeros((100, 200, 3), np.uint8)])[0]
    assert len(found) == 1
    assert found.xyxy[0] == pytest.approx([20, 20, 100, 60])
    assert found.name_of(int(found.class_id[0])) == "dog"
    (label,) = found.to_labels(width=200, height=100)
    assert (label.kind, label.label, label.box) == ("box", "dog", (20.0, 20.0, 100.0, 60.0))


@pytest.mark.parametrize(
    ("format_name", "content", "message"),
    [
        ("onnx-yolo", b"", "empty"),
        ("onnx-yolo", b"\x00garbage\xff" * 10, "not a usable ONNX model"),
        ("onnx-detr", b"PK\x03\x04", "not a usable ONNX model"),
        ("onnx-classify", b"hello", "not a usable ONNX model"),
        ("torchscript", b"not a zip", "not a TorchScript model"),
        ("onnx-yolo", None, "not found"),
        ("tensorflow", b"x", "unknown model format"),
    ],
)
def test_bad_model_files_fail_at_registration(
    tmp_path: Path, format_name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / "model.bin"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        validate_artifact(format_name, path)


def test_a_detr_graph_is_not_a_yolo_model(tmp_path: Path) -> None:
    path = tmp_path / "detr.onnx"
    constant_output_onnx(path, {"boxes": np.zeros((1, 3, 4), np.float32)[0]})
    with pytest.raises(ModelError, match="YOLOv8"):
        validate_artifact("onnx-yolo", path)


def test_nms_is_class_aware_and_exact() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 1, 0])
    keep = nms(boxes, scores, 0.5, class_ids=classes)
    assert sorted(np.asarray(keep).tolist()) == [0, 2, 3]
