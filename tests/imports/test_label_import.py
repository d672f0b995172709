"""Labels in: what labelbay exports in each format, imported into a new project with the same
images, gives the same labels; a second run changes nothing; bad records are reported by place."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import pytest

from labelbay import labels
from tests.api.factories import image_part, jpeg_bytes, upload_ok
from tests.exports.helpers import Labelled, box, export, labelled_project
from tests.jobs.helpers import wait_for_job
from tests.support.review_state import assert_copies_follow
from tests.support.stack import Stack

SIZES = [(200, 160), (120, 90)]
NAMES = ["a.jpg", "b.jpg"]
PREDICTED = {
    0: [
        labels.make("box", "cat", box(10.5, 20.25, 60, 80), score=0.9, class_id=0),
        labels.make("polygon", "dog", {"points": [[150, 10], [190, 20], [170, 70]]}, score=0.7),
    ],
    1: [labels.make("box", "dog", box(1, 2, 119, 89), score=0.4, class_id=1)],
}
ANNOTATED = {
    0: [
        {"kind": "box", "label": "cat", "geometry": box(12, 22, 60, 80)},
        {
            "kind": "polygon",
            "label": "dog",
            "geometry": {"points": [[150, 10], [190, 20], [170, 70]]},
        },
        {"kind": "circle", "label": "cat", "geometry": {"cx": 100, "cy": 100, "r": 29}},
    ],
    1: [{"kind": "classification", "label": "dog"}],
}


def _source(stack: Stack) -> Labelled:
    return labelled_project(
        stack,
        sizes=SIZES,
        labels=["cat", "dog"],
        names=NAMES,
        predictions={i: [x.to_json() for x in found] for i, found in PREDICTED.items()},
        annotations=ANNOTATED,
    )


def _target(stack: Stack, source: Labelled) -> int:
    """A second project of the same owner with the same images (same names and bytes)."""
    project = stack.project(source.headers, labels=["cat", "dog"])
    parts = [image_part(jpeg_bytes(w, h, seed=i), NAMES[i]) for i, (w, h) in enumerate(SIZES)]
    upload_ok(stack, project["id"], source.headers, *parts)
    return int(project["id"])


def _import(
    stack: Stack, source: Labelled, project_id: int, content: bytes, **form: str
) -> dict[str, Any]:
    """Post the file, follow the job to its end; its progress counts and its report."""
    answer = stack.client.post(
        f"/api/v1/projects/{project_id}/labels/import",
        files=[("files", ("labels", content))],
        data=form,
        headers=source.headers,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["kind"] == "label_import"
    job = wait_for_job(stack, source.headers, answer.json()["id"])
    assert job["status"] == "completed", job
    progress = job["progress"]
    return {
        **progress,
        "added": progress["labels_added"],
        "problem_count": progress["problems"],
        "unmatched_count": progress["unmatched"],
        "problems": job["report"]["problems"],
        "unmatched": job["report"]["unmatched"],
    }


def _labels_of(stack: Stack, source: Labelled, project_id: int, what: str) -> list[list[Any]]:
    images = stack.client.get(
        f"/api/v1/projects/{project_id}/images", headers=source.headers
    ).json()["images"]
    out = []
    for image in sorted(images, key=lambda i: i["original_filename"]):
        url = f"/api/v1/images/{image['id']}/{what}"
        body = stack.client.get(url, headers=source.headers).json()
        if what == "annotations":
            out.append(
                sorted(
                    (a["kind"], a["label"], json.dumps(a["geometry"], sort_keys=True)) for a in body
                )
            )
        else:
            out.append(
                sorted(
                    (
                        x["kind"],
                        x["label"],
                        x.get("score"),
                        json.dumps(x["geometry"], sort_keys=True),
                    )
                    for p in body
                    for x in p["labels"]
                )
            )
    return out


def _close(got: list[list[Any]], want: list[list[Any]], tolerance: float) -> None:
    assert len(got) == len(want)
    for got_image, want_image in zip(got, want, strict=True):
        assert len(got_image) == len(want_image), (got_image, want_image)
        for g, w in zip(got_image, want_image, strict=True):
            assert g[:-1] == w[:-1]
            g_geometry, w_geometry = json.loads(g[-1]), json.loads(w[-1])
            assert g_geometry.keys() == w_geometry.keys()
            for key, value in w_geometry.items():
                got_value, want_value = np.asarray(g_geometry[key]), np.asarray(value)
                assert got_value == pytest.approx(want_value, abs=tolerance), (key, g, w)


def test_coco_annotations_round_trip_and_a_rerun_changes_nothing(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="coco", source="annotations").content
    first = _import(stack, source, target, data, format="coco", target="annotations")
    # The image class has no box, so COCO does not carry it: 3 labels of image a.
    assert (first["images_matched"], first["added"], first["problems"]) == (2, 3, [])
    want = _labels_of(stack, source, source.project_id, "annotations")
    want[1] = []  # the classification
    # A circle comes back as the polygon COCO stores it (its 32-gon): compare the others.
    got = _labels_of(stack, source, target, "annotations")
    assert [k[:2] for k in got[0]] == [("box", "cat"), ("polygon", "cat"), ("polygon", "dog")]
    not_circle = [x for x in got[0] if x[1] != "cat" or x[0] == "box"]
    _close([not_circle], [[x for x in want[0] if x[0] != "circle"]], 1e-6)

    again = _import(stack, source, target, data, format="coco", target="annotations")
    assert (again["added"], again["unchanged"]) == (0, 3)
    assert _labels_of(stack, source, target, "annotations") == got


def test_coco_predictions_round_trip_with_scores(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="coco", source="predictions").content
    report = _import(
        stack, source, target, data, format="coco", target="predictions", model="other-model"
    )
    assert (report["added"], report["problems"]) == (3, [])
    want = _labels_of(stack, source, source.project_id, "predictions")
    _close(_labels_of(stack, source, target, "predictions"), want, 1e-6)
    again = _import(
        stack, source, target, data, format="coco", target="predictions", model="other-model"
    )
    assert (again["added"], again["unchanged"]) == (0, 3)


def test_imported_predictions_take_their_images_review_state(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    images = stack.client.get(f"/api/v1/projects/{target}/images", headers=source.headers)
    first = min(images.json()["images"], key=lambda i: i["original_filename"])
    accepted = stack.client.post(
        f"/api/v1/images/{first['id']}/review", json={"status": "reviewed"}, headers=source.headers
    )
    assert accepted.status_code == 200, accepted.text
    data = export(stack, source, format="coco", source="predictions").content
    _import(stack, source, target, data, format="coco", target="predictions", model="other-model")
    assert_copies_follow(stack, target, ["reviewed", "unreviewed"])


def test_yolo_round_trip_within_half_a_pixel(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="yolo", source="predictions").content
    report = _import(stack, source, target, data, format="yolo", target="annotations")
    assert (report["images_matched"], report["added"], report["problems"]) == (2, 3, [])
    want = [
        sorted(
            (
                "box",
                x.label,
                json.dumps(
                    dict(zip(("x1", "y1", "x2", "y2"), x.box_in(w, h) or (), strict=True)),
                    sort_keys=True,
                ),
            )
            for x in PREDICTED[i]
        )
        for i, (w, h) in enumerate(SIZES)
    ]
    _close(_labels_of(stack, source, target, "annotations"), want, 0.5)


def test_label_studio_round_trip_both_groups(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="labelstudio", source="both").content
    people = _import(stack, source, target, data, format="labelstudio", target="annotations")
    assert (people["added"], people["problems"]) == (4, [])
    _close(
        _labels_of(stack, source, target, "annotations"),
        _labels_of(stack, source, source.project_id, "annotations"),
        1e-6,
    )
    model = _import(
        stack, source, target, data, format="labelstudio", target="predictions", model="ls"
    )
    assert (model["added"], model["problems"]) == (3, [])
    _close(
        _labels_of(stack, source, target, "predictions"),
        _labels_of(stack, source, source.project_id, "predictions"),
        1e-6,
    )


def test_bad_records_are_reported_by_place_and_the_rest_stored(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "missing.jpg"}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "horse"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 5, -3, 4]},
            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [1, 2, 10, 10]},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [500, 500, 10, 10]},
            {"id": 5, "image_id": 1, "category_id": 1},
        ],
    }
    report = _import(
        stack, source, target, json.dumps(coco).encode(), format="coco", target="annotations"
    )
    assert report["added"] == 1
    assert report["unmatched"] == ["missing.jpg"]
    problems = {p["place"]: p["reason"] for p in report["problems"]}
    assert set(problems) == {f"labels#/annotations/{i}" for i in (1, 2, 3, 4)}
    assert "greater" in problems["labels#/annotations/1"]
    assert "label set" in problems["labels#/annotations/2"]
    assert "inside the image" in problems["labels#/annotations/3"]
    assert (report["problem_count"], report["records"], report["unmatched_count"]) == (4, 3, 1)
    yolo = io.BytesIO()
    with zipfile.ZipFile(yolo, "w") as archive:
        archive.writestr("data.yaml", "names:\n  0: cat\n")
        archive.writestr("labels/a.txt", "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n0 0.5 0.5\n")
    report = _import(stack, source, target, yolo.getvalue(), format="yolo", target="annotations")
    assert report["added"] == 1
    assert [p["place"] for p in report["problems"]] == ["labels/a.txt:2", "labels/a.txt:3"]
    not_json = stack.client.post(
        f"/api/v1/projects/{target}/labels/import",
        files=[("files", ("x.json", b"nope"))],
        data={"format": "coco"},
        headers=source.headers,
    )
    assert not_json.status_code == 422
    assert "not a JSON file" in not_json.json()["detail"]
    # Past the quick check, a file that stops being JSON fails its job with the reason.
    cut = stack.client.post(
        f"/api/v1/projects/{target}/labels/import",
        files=[("files", ("x.json", b'{"images": [{"id": 1, "file_name": "a.jpg"}, {'))],
        data={"format": "coco"},
        headers=source.headers,
    )
    assert cut.status_code == 202, cut.text
    failed = wait_for_job(stack, source.headers, cut.json()["id"])
    assert failed["status"] == "failed"
    assert "not a coco file" in failed["error"]


def test_labelbay_json_round_trip_both_groups(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="json", source="both").content
    people = _import(stack, source, target, data, format="labelbay", target="annotations")
    assert (people["added"], people["problems"]) == (4, [])
    _close(
        _labels_of(stack, source, target, "annotations"),
        _labels_of(stack, source, source.project_id, "annotations"),
        1e-6,
    )
    model = _import(
        stack, source, target, data, format="labelbay", target="predictions", model="mine"
    )
    assert (model["added"], model["problems"]) == (3, [])
    _close(
        _labels_of(stack, source, target, "predictions"),
        _labels_of(stack, source, source.project_id, "predictions"),
        1e-6,
    )
    again = _import(stack, source, target, data, format="labelbay", target="annotations")
    assert (again["added"], again["unchanged"]) == (0, 4)
