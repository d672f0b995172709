"""Items 5, 7 and 9: oversize free-form JSON, values the database cannot hold, and 404s that say
the same for a hidden object as for a missing one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.factories import image_part, jpeg_bytes, upload_ok
from tests.security.conftest import EMBEDDED
from tests.support.fixed_model import register_fixed_models
from tests.support.stack import Stack

BEYOND_64_BITS = [
    "/api/v1/jobs/9223372036854775808",
    "/api/v1/projects/-9223372036854775809/images",
    "/api/v1/projects/9223372036854775808",
    "/api/v1/projects/2147483648/labels",  # beyond PostgreSQL's INTEGER
]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def _nested_text(depth: int) -> str:
    """`{"metadata": {...}}` nested `depth` deep, as text (too deep for `json.dumps`)."""
    return '{"metadata":' + '{"k":' * (depth - 1) + "{}" + "}" * (depth - 1) + "}"


# -- item 5: free-form JSON ------------------------------------------------------------------------


@EMBEDDED
def test_item5_metadata_size_and_depth_limited(stack: Stack) -> None:
    owner = stack.quick_user("owner@example.com")
    project = stack.project(owner)["id"]
    image = upload_ok(stack, project, owner, image_part(jpeg_bytes(), "a.jpg"))[0]
    big = {"k": "x" * (5 * 1024 * 1024)}
    for path, body in [
        (f"/api/v1/images/{image['id']}", {"metadata": big}),
        (f"/api/v1/projects/{project}", {"metadata": big}),
        (f"/api/v1/images/{image['id']}", {"metadata": _nested(40)}),
    ]:
        answer = stack.client.patch(path, content=json.dumps(body), headers=owner)
        assert answer.status_code in (413, 422), (path, answer.status_code, answer.text[:200])
    for depth in (500, 980, 5000):
        for path in (f"/api/v1/images/{image['id']}", f"/api/v1/projects/{project}"):
            deep = stack.client.patch(
                path,
                content=_nested_text(depth),
                headers={**owner, "Content-Type": "application/json"},
            )
            assert 400 <= deep.status_code < 500, (depth, deep.text[:200])
    too_big_for_json_limit = {"metadata": {"k": "x" * 200_000}}
    answer = stack.client.post(
        "/api/v1/projects", json={"name": "p", **too_big_for_json_limit}, headers=owner
    )
    assert answer.status_code == 422, answer.text[:200]
    assert "limit" in answer.text
    page = stack.client.get(f"/api/v1/projects/{project}/images", headers=owner)
    assert page.status_code == 200
    assert len(page.content) < 10_000  # nothing of the refused metadata was stored
    fine = stack.client.patch(
        f"/api/v1/images/{image['id']}", json={"metadata": _nested(10)}, headers=owner
    )
    assert fine.status_code == 200, fine.text


# -- item 7: 4xx, not 500, for values the database cannot hold -------------------------------------


def test_item7_ids_and_cursors_beyond_64_bits_are_4xx(stack: Stack, tmp_path: Path) -> None:
    owner = stack.quick_user("owner@example.com")
    project = stack.project(owner)["id"]
    register_fixed_models(stack, tmp_path)
    upload_ok(stack, project, owner, image_part(jpeg_bytes(), "a.jpg"))
    job = stack.client.post(
        f"/api/v1/projects/{project}/jobs", json={"model": "fixed-boxes"}, headers=owner
    )
    assert job.status_code == 201, job.text
    paths = [*BEYOND_64_BITS, f"/api/v1/jobs/{job.json()['id']}/results?cursor=9223372036854775808"]
    for path in paths:
        answer = stack.client.get(path, headers=owner)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)


def test_item7_renaming_a_label_to_a_taken_name_is_409(stack: Stack) -> None:
    owner = stack.quick_user("owner@example.com")
    project = stack.project(owner, labels=["cat", "dog"])
    labels = {label["name"]: label["id"] for label in project["labels"]}
    answer = stack.client.patch(
        f"/api/v1/projects/{project['id']}/labels/{labels['dog']}",
        json={"name": "cat"},
        headers=owner,
    )
    assert answer.status_code == 409, answer.text
    names = stack.client.get(f"/api/v1/projects/{project['id']}/labels", headers=owner).json()
    assert sorted(label["name"] for label in names) == ["cat", "dog"]


@EMBEDDED
def test_item7_import_folder_name_too_long_is_422(stack: Stack, tmp_path: Path) -> None:
    admin = stack.quick_user("admin@example.com", admin=True)
    project = stack.project(admin)["id"]
    answer = stack.client.post(
        f"/api/v1/projects/{project}/imports",
        json={"source_url": f"file://{tmp_path}/{'a' * 300}"},
        headers=admin,
    )
    assert answer.status_code == 422, answer.text


# -- item 9: the same 404 for hidden and missing objects -------------------------------------------


@EMBEDDED
def test_item9_hidden_and_missing_objects_answer_alike(stack: Stack, tmp_path: Path) -> None:
    owner = stack.quick_user("owner@example.com")
    outsider = stack.quick_user("outsider@example.com")
    project = stack.project(owner, labels=["cat"])["id"]
    register_fixed_models(stack, tmp_path)
    image = upload_ok(stack, project, owner, image_part(jpeg_bytes(), "a.jpg"))[0]
    job_id = stack.client.post(
        f"/api/v1/projects/{project}/jobs", json={"model": "fixed-boxes"}, headers=owner
    ).json()["id"]
    annotation = stack.client.post(
        f"/api/v1/images/{image['id']}/annotations",
        json={"kind": "classification", "label": "cat"},
        headers=owner,
    ).json()["id"]
    missing = 999_999
    for method, existing, absent, body in [
        ("GET", f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{missing}", None),
        ("GET", f"/api/v1/jobs/{job_id}/results", f"/api/v1/jobs/{missing}/results", None),
        (
            "PATCH",
            f"/api/v1/annotations/{annotation}",
            f"/api/v1/annotations/{missing}",
            {"label": "cat"},
        ),
        ("DELETE", f"/api/v1/annotations/{annotation}", f"/api/v1/annotations/{missing}", None),
    ]:
        hidden = stack.client.request(method, existing, json=body, headers=outsider)
        gone = stack.client.request(method, absent, json=body, headers=outsider)
        assert hidden.status_code == gone.status_code == 404
        hidden_text = (
            hidden.json()["detail"].replace(str(job_id), "N").replace(str(annotation), "N")
        )
        assert hidden_text == gone.json()["detail"].replace(str(missing), "N"), (existing, absent)
        assert "project" not in hidden.text
        assert image["id"] not in hidden.text
