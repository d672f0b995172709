"""The one label type: its validation, fitting to the image, JSON form, and `Detections` round trip."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from labelbay import labels
from labelbay.errors import Invalid
from labelbay.inference.detections import ClassScore, Detections
from labelbay.labels import CircleGeometry, Label, Source
from tests.exports.helpers import box


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "box", "label": "a", "geometry": {"x1": 5, "y1": 0, "x2": 5, "y2": 9}}, "greater"),
        ({"kind": "box", "label": "a", "geometry": {"x1": 0, "y1": 0, "x2": 5}}, "y2"),
        ({"kind": "box", "label": "a", "geometry": {"x1": True, "y1": 0, "x2": 5, "y2": 5}}, "number"),
        ({"kind": "box", "label": "a", "geometry": {"x1": "1", "y1": 0, "x2": 5, "y2": 5}}, "number"),
        ({"kind": "box", "label": "a", "geometry": {"x1": math.nan, "y1": 0, "x2": 5, "y2": 5}}, "finite"),
        ({"kind": "box", "label": "a", "geometry": {"x1": 0, "y1": 0, "x2": math.inf, "y2": 5}}, "finite"),
        ({"kind": "circle", "label": "a", "geometry": {"cx": 5, "cy": 5, "r": 0}}, "positive"),
        ({"kind": "circle", "label": "a", "geometry": {"cx": 5, "cy": 5, "r": -1}}, "positive"),
        ({"kind": "polygon", "label": "a", "geometry": {"points": [[0, 0], [1, 1]]}}, "3 to"),
        ({"kind": "polygon", "label": "a", "geometry": {"points": [[0, 0], [1], [2, 2]]}}, "points"),
        ({"kind": "box", "label": "", "geometry": {"x1": 0, "y1": 0, "x2": 5, "y2": 5}}, "label"),
        ({"kind": "box", "label": "a", "score": 1.5, "geometry": box(0, 0, 5, 5)}, "score"),
        ({"kind": "box", "label": "a", "geometry": {"cx": 1, "cy": 1, "r": 1}}, "geometry"),
        ({"kind": "classification", "label": "a", "geometry": {"x1": 0}}, "geometry"),
        ({"kind": "blob", "label": "a"}, "kind"),
        ({"kind": "mask", "label": "a"}, "size"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [2, 2], "counts": "1"}}, "cover 1 pixels"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [2, 2], "counts": "0~"}}, "RLE text"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [2, 2], "counts": "0é"}}, "RLE text"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [2, 2], "counts": "1o"}}, "middle"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [0, 2], "counts": ""}}, "size"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [2], "counts": "4"}}, "size"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [2, 2], "counts": 4}}, "counts"),
        ({"kind": "mask", "label": "a", "geometry": {"size": [2, 2], "counts": "3@8"}}, "negative"),
    ],
)  # fmt: skip
def test_malformed_labels_are_refused_naming_the_problem(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        labels.parse(data)


def test_json_form_round_trips() -> None:
    label = labels.make(
        "classification",
        "cat",
        score=0.8,
        class_id=1,
        top_k=[{"label": "cat", "score": 0.8}, {"label": "dog", "score": 0.15}],
        source={"model_version_id": 7},
        attributes={"note": "x"},
    )
    stored = label.to_json()
    assert stored == {
        "kind": "classification",
        "label": "cat",
        "class_id": 1,
        "score": 0.8,
        "geometry": {},
        "top_k": [{"label": "cat", "score": 0.8}, {"label": "dog", "score": 0.15}],
        "source": {"model_version_id": 7},
        "attributes": {"note": "x"},
    }
    assert labels.parse(stored) == label


def test_a_text_line_is_not_read_as_a_box() -> None:
    line = labels.parse(
        {"kind": "text", "label": "text", "geometry": {"x1": 1, "y1": 2, "x2": 30, "y2": 9}, "text": "hi"}
    )  # fmt: skip
    assert line.kind == "text"
    assert line.text == "hi"
    assert line.box == (1, 2, 30, 9)


def test_model_output_is_clipped_into_the_image() -> None:
    box = labels.make("box", "a", {"x1": -5, "y1": 10, "x2": 120, "y2": 40})
    fitted = box.fitted(100, 50)
    assert fitted is not None
    assert fitted.box == (0, 10, 100, 40)
    assert labels.make("box", "a", {"x1": 101, "y1": 0, "x2": 120, "y2": 9}).fitted(100, 50) is None
    polygon = labels.make("polygon", "a", {"points": [[-10, -10], [50, 0], [50, 80]]})
    assert polygon.fitted(100, 50).points == [(0, 0), (50, 0), (50, 50)]  # type: ignore[union-attr]
    # A circle keeps its shape (its centre is inside); every reader clips its box the same way.
    circle = labels.make("circle", "coin", {"cx": 169.6, "cy": 492.16, "r": 28.2})
    assert circle.fitted(512, 512) == circle
    assert circle.box_in(512, 512) == pytest.approx((141.4, 463.96, 197.8, 512.0))
    assert labels.make("circle", "coin", {"cx": 600, "cy": 5, "r": 3}).fitted(512, 512) is None


@pytest.mark.parametrize(
    ("kind", "geometry", "message"),
    [
        ("circle", {"cx": 5, "cy": 5, "r": 20}, "circle at \\(5, 5\\) with radius 20 leaves the image"),
        ("circle", {"cx": 500, "cy": 256, "r": 20}, "leaves the image \\(512x512 pixels\\)"),
        ("box", {"x1": 1, "y1": 2, "x2": 600, "y2": 40}, "box \\(1, 2\\)-\\(600, 40\\) lies outside"),
        ("polygon", {"points": [[0, 0], [10, 0], [10, 513]]}, "point 2 \\(10, 513\\) lies outside"),
    ],
)  # fmt: skip
def test_a_persons_label_that_leaves_the_image_is_refused(
    kind: str, geometry: dict[str, Any], message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        labels.make(kind, "a", geometry).check_inside(512, 512)
    inside = labels.make("circle", "a", {"cx": 20, "cy": 20, "r": 20})
    inside.check_inside(512, 512)  # touching the edge is inside


def test_detections_to_labels_and_back() -> None:
    found = Detections.create(
        [[-4, 2, 10, 8], [20, 20, 40, 40], [90, 90, 130, 130]],
        [0.9, 0.4, 0.7],
        [0, 1, 0],
        class_names=["coin", "ring"],
        circles=[[3, 5, 7], [np.nan] * 3, [110, 110, 20]],
    )
    as_labels = found.to_labels(width=100, height=100, source=Source(model_version_id=3))
    # The third circle's centre lies outside the 100x100 image: dropped.
    assert [(x.kind, x.label, x.score) for x in as_labels] == [
        ("circle", "coin", 0.9),
        ("box", "ring", 0.4),
    ]
    assert as_labels[0].geometry == CircleGeometry(cx=3, cy=5, r=7)
    assert as_labels[0].box_in(100, 100) == (0, 0, 10, 12)
    assert as_labels[1].source == Source(model_version_id=3)
    back = Detections.from_labels(as_labels, class_names=["coin", "ring"])
    assert back.xyxy.tolist() == [[-4, -2, 10, 12], [20, 20, 40, 40]]
    assert back.class_id.tolist() == [0, 1]
    assert back.circles is not None
    assert back.circles[0].tolist() == [3, 5, 7]
    assert np.isnan(back.circles[1]).all()


def test_a_classifiers_top_k_rides_on_its_best_label() -> None:
    found = Detections.create([[0, 0, 80, 50]], [0.7], [1], class_names=["a", "b", "c"])
    found.extra["top_k"] = [
        ClassScore(1, "b", 0.7),
        ClassScore(2, "c", 0.2),
        ClassScore(0, "a", 0.1),
    ]
    (label,) = found.to_labels(width=80, height=50)
    assert label.kind == "classification"
    assert label.box_in(80, 50) is None
    assert [(c.label, c.score) for c in label.top_k or []] == [("b", 0.7), ("c", 0.2), ("a", 0.1)]
    back = Detections.from_labels([label], class_names=["a", "b", "c"], width=80, height=50)
    assert back.xyxy.tolist() == [[0, 0, 80, 50]]
    assert [(c.class_id, c.class_name) for c in back.extra["top_k"]] == [
        (1, "b"),
        (2, "c"),
        (0, "a"),
    ]


def test_text_lines_keep_their_text() -> None:
    found = Detections.create([[1, 1, 50, 10]], [0.95], [0], class_names=["text"], text=["hello"])
    (line,) = found.to_labels(width=100, height=20)
    assert (line.kind, line.text) == ("text", "hello")
    assert labels.worker_json(line, width=100, height=20) == {
        "class_id": 0,
        "class_name": "text",
        "confidence": 0.95,
        "bbox": {"x1": 1.0, "y1": 1.0, "x2": 50.0, "y2": 10.0},
        "text": "hello",
    }


def test_a_labels_fields_are_frozen() -> None:
    label: Label = labels.make("box", "a", {"x1": 0, "y1": 0, "x2": 1, "y2": 1})
    with pytest.raises(ValueError, match="frozen"):
        label.label = "b"  # type: ignore[misc]
