"""The labeling pipeline on real weights: reduced-size decode must not move the boxes."""

from __future__ import annotations

import numpy as np
import pytest

from labelbay.inference.base import Model, ModelSpec
from labelbay.inference.geometry import box_iou
from labelbay.inference.imageio import decode_image
from labelbay.inference.pipeline import StageTimes, label_stream
from labelbay.inference.registry import load_model
from tests.inference.conftest import jpeg_bytes, sample_photos


@pytest.fixture(scope="module")
def yolo(yolo_spec: ModelSpec) -> Model:
    return load_model(yolo_spec)


@pytest.fixture(scope="module")
def jpegs_1080p() -> dict[str, bytes]:
    return {name: jpeg_bytes(rgb, (1920, 1080)) for name, rgb in sample_photos().items()}


def test_reduced_decode_pipeline_matches_full_size_decode(
    yolo: Model, jpegs_1080p: dict[str, bytes]
) -> None:
    times = StageTimes()
    results = list(label_stream(yolo, jpegs_1080p.items(), batch_size=2, timings=times))
    assert [r.key for r in results] == list(jpegs_1080p)
    assert times.images == len(jpegs_1080p)
    assert times.decode > 0
    assert times.infer > 0
    found_any = False
    for result in results:
        assert (result.width, result.height) == (1920, 1080)
        assert result.detections is not None
        full = yolo.predict([decode_image(jpegs_1080p[result.key]).pixels])[0]
        piped = result.detections
        assert (piped.xyxy[:, 2] <= 1920).all()
        assert (piped.xyxy[:, 3] <= 1080).all()
        # Every confident full-decode box has a pipeline box of the same class on top of it.
        for i in np.flatnonzero(full.confidence >= 0.5):
            same_class = piped.class_id == full.class_id[i]
            overlaps = box_iou(full.xyxy[[i]], piped.xyxy[same_class])
            assert overlaps.size
            assert overlaps.max() > 0.85, (result.key, full.name_of(int(full.class_id[i])))
            found_any = True
    assert found_any  # at least the astronaut's face


def test_batch_size_does_not_change_results(yolo: Model, jpegs_1080p: dict[str, bytes]) -> None:
    one = list(label_stream(yolo, jpegs_1080p.items(), batch_size=1))
    many = list(label_stream(yolo, jpegs_1080p.items(), batch_size=3, decode_threads=1))
    for a, b in zip(one, many, strict=True):
        assert a.detections is not None
        assert b.detections is not None
        np.testing.assert_allclose(a.detections.xyxy, b.detections.xyxy, atol=1e-3)
        np.testing.assert_array_equal(a.detections.class_id, b.detections.class_id)


def test_unreadable_image_keeps_its_place_and_the_run_goes_on(
    yolo: Model, jpegs_1080p: dict[str, bytes]
) -> None:
    items = [("a", jpegs_1080p["astronaut"]), ("broken", b"\xff\xd8\xffnope"), ("c", b"")]
    items.append(("d", jpegs_1080p["coffee"]))
    results = list(label_stream(yolo, items, batch_size=2))
    assert [r.key for r in results] == ["a", "broken", "c", "d"]
    assert [r.error is None for r in results] == [True, False, False, True]
    assert results[1].detections is None


def test_boxes_stay_inside_an_image_whose_size_is_not_a_multiple_of_the_scale(
    yolo: Model,
) -> None:
    # 1923 x 1083: the 1/4 decode is 481 x 271, and 481 * 4 > 1923.
    mirrored = np.ascontiguousarray(sample_photos()["astronaut"][:, ::-1])  # face near the right
    data = jpeg_bytes(mirrored, (1923, 1083))
    (result,) = list(label_stream(yolo, [("odd", data)]))
    assert (result.width, result.height) == (1923, 1083)
    assert result.detections is not None
    assert len(result.detections)
    assert (result.detections.xyxy[:, 0::2] <= 1923).all()
    assert (result.detections.xyxy[:, 1::2] <= 1083).all()
