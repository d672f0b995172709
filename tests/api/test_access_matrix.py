"""Who may do what: every route the app serves against every kind of caller, as one table.

The policy, as the code implements it and README's "Roles" section states it (admins act as owners
everywhere):

- viewer     reads the project, its members, labels, images, image content, comments, people's
             annotations, models' predictions, jobs and their results, analyses; exports; reads
             the old classification history;
- annotator  + uploads images, edits image metadata, comments, draws/edits/deletes annotations,
             accepts or rejects predictions, marks images reviewed, starts and cancels jobs, posts
             to the old upload/predict/circles endpoints;
- manager    + edits the project, the label set and the annotator/viewer members, deletes images,
             imports a bucket, asks for an ML analysis;
- owner      + deletes the project, grants and removes the manager and owner roles;
- admin      + creates users, imports from the server's own folders;
- a signed-in user who is not a member gets 404 for the project and everything in it (as if it did
  not exist), anyone without credentials 401, a member whose role is too low 403;
- a pipeline (HMAC-signed `X-ML-Signature`, no user) may only drive analyses: create one, move its
  status, presign artifacts, post annotations, finalize; its signature opens nothing else;
- any signed-in user may list the models and call the KServe v2 model routes (models are not
  project data); health, readiness, config, metrics, sign-in, the API docs, the web app and the
  KServe v2 server metadata are open.

The matrix runs on the embedded stack only: the policy lives above storage and SQL dialect, and one
shared app (users signed in once) keeps ~600 cases fast. Each case gets a fresh project (and the
annotation, prediction, job or analysis its path names), so a DELETE in one case never changes
what another sees.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route as StarletteRoute

import labelbay.api.routes
from labelbay import labels
from labelbay.analyses import service as analyses
from labelbay.api.app import create_app
from labelbay.db.models import (
    AnalysisStatus,
    Image,
    Label,
    ModelVersion,
    Prediction,
    Project,
    ProjectMember,
    Role,
    User,
)
from labelbay.db.session import transaction
from labelbay.jobs import service as jobs
from labelbay.security.tokens import create_access_token
from labelbay.services.users import create_api_key
from tests.analyses.support import SETTINGS as ANALYSES_SETTINGS
from tests.analyses.support import Pipeline
from tests.api.factories import Part, image_part, jpeg_bytes, multipart, upload_ok
from tests.support.fixed_model import register_fixed_models
from tests.support.stack import PASSWORD, Stack, make_settings

ROLES = ("admin", "owner", "manager", "annotator", "viewer", "outsider", "anonymous", "pipeline")
MEMBER_ROLES = ("owner", "manager", "annotator", "viewer")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {placeholders} are filled per case, see World.fresh_project / World.names_for
    expected: str  # one status per caller, in the order of ROLES
    body: Any = None
    upload: str | None = None  # the multipart field an image is sent in
    form: dict[str, str] = field(default_factory=dict)  # plain multipart fields (with `upload`)
    sign_in_form: bool = False  # an OAuth2 password form with the owner's credentials

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" {self.body}" if self.body else "")


P = "/api/v1/projects/{project}"
IMG = "/api/v1/images/{image}"
AN = "/api/analyses/{analysis}"
OPEN = "200 200 200 200 200 200 200 200"
# fmt: off
# Expected status per caller:                                     adm own mgr ann vwr out anon pipe
MATRIX = [
    # -- open: health, docs, the web app, sign-in
    Route("GET",    "/health",                                    OPEN),
    Route("GET",    "/ready",                                     OPEN),
    Route("GET",    "/config",                                    OPEN),
    Route("GET",    "/metrics",                                   OPEN),
    Route("GET",    "/openapi.json",                              OPEN),
    Route("GET",    "/docs",                                      OPEN),
    Route("GET",    "/docs/oauth2-redirect",                      OPEN),
    Route("GET",    "/redoc",                                     OPEN),
    Route("GET",    "/{path:path}",                               OPEN),
    Route("POST",   "/api/v1/auth/token",                         OPEN, sign_in_form=True),
    Route("GET",    "/v2/health/live",                            OPEN),
    Route("GET",    "/v2/health/ready",                           OPEN),
    Route("GET",    "/v2",                                        OPEN),
    # -- users and keys
    Route("GET",    "/api/v1/users/me",                           "200 200 200 200 200 200 401 401"),
    Route("POST",   "/api/v1/users",                              "201 403 403 403 403 403 401 401",
          body={"email": "{fresh_email}", "password": "another-long-password"}),
    Route("GET",    "/api/v1/users/me/api-keys",                  "200 200 200 200 200 200 401 401"),
    Route("POST",   "/api/v1/users/me/api-keys",                  "201 201 201 201 201 201 401 401",
          body={"name": "ci"}),
    Route("DELETE", "/api/v1/users/me/api-keys/{key}",            "204 204 204 204 204 204 401 401"),
    # -- projects, members, labels
    Route("GET",    "/api/v1/projects",                           "200 200 200 200 200 200 401 401"),
    Route("POST",   "/api/v1/projects",                           "201 201 201 201 201 201 401 401",
          body={"name": "new"}),
    Route("GET",    P,                                            "200 200 200 200 200 404 401 401"),
    Route("PATCH",  P,                                            "200 200 200 403 403 404 401 401",
          body={"name": "renamed"}),
    Route("DELETE", P,                                            "204 204 403 403 403 404 401 401"),
    Route("GET",    P + "/members",                               "200 200 200 200 200 404 401 401"),
    Route("PUT",    P + "/members",                               "200 200 200 403 403 404 401 401",
          body={"email": "bystander@example.com", "role": "annotator"}),
    Route("PUT",    P + "/members",                               "200 200 200 403 403 404 401 401",
          body={"email": "bystander@example.com", "role": "viewer"}),
    Route("PUT",    P + "/members",                               "200 200 403 403 403 404 401 401",
          body={"email": "bystander@example.com", "role": "manager"}),
    Route("PUT",    P + "/members",                               "200 200 403 403 403 404 401 401",
          body={"email": "bystander@example.com", "role": "owner"}),
    Route("DELETE", P + "/members/{viewer_id}",                   "204 204 204 403 403 404 401 401"),
    Route("DELETE", P + "/members/{manager_id}",                  "204 204 403 403 403 404 401 401"),
    Route("GET",    P + "/labels",                                "200 200 200 200 200 404 401 401"),
    Route("POST",   P + "/labels",                                "201 201 201 403 403 404 401 401",
          body={"name": "dog"}),
    Route("PATCH",  P + "/labels/{label}",                        "200 200 200 403 403 404 401 401",
          body={"color": "#00ff00"}),
    Route("DELETE", P + "/labels/{label}",                        "204 204 204 403 403 404 401 401"),
    # -- images and comments
    Route("POST",   P + "/images",                                "201 201 201 201 403 404 401 401",
          upload="files"),
    Route("GET",    P + "/images",                                "200 200 200 200 200 404 401 401"),
    Route("GET",    IMG,                                          "200 200 200 200 200 404 401 401"),
    Route("PATCH",  IMG,                                          "200 200 200 200 403 404 401 401",
          body={"metadata": {"checked": True}}),
    Route("GET",    IMG + "/content",                             "200 200 200 200 200 404 401 401"),
    # A signed link opens the content without sign-in (tests/api/test_signed_links.py); the CORS
    # preflight for it is open.
    Route("OPTIONS", IMG + "/content",                            "204 204 204 204 204 204 204 204"),
    Route("GET",    IMG + "/thumbnail",                           "200 200 200 200 200 404 401 401"),
    Route("DELETE", IMG,                                          "204 204 204 403 403 404 401 401"),
    # Assisted masks are drawing: annotator and up (nothing is stored).
    Route("POST",   IMG + "/assist",                              "200 200 200 200 403 404 401 401",
          body={"tool": "wand", "point": [2, 2], "tolerance": 30}),
    Route("GET",    IMG + "/comments",                            "200 200 200 200 200 404 401 401"),
    Route("POST",   IMG + "/comments",                            "201 201 201 201 403 404 401 401",
          body={"text": "looks right"}),
    # -- review: annotations, verdicts on predictions, the review mark
    Route("GET",    IMG + "/annotations",                         "200 200 200 200 200 404 401 401"),
    Route("POST",   IMG + "/annotations",                         "201 201 201 201 403 404 401 401",
          body={"kind": "box", "label": "cat", "geometry": {"x1": 1, "y1": 1, "x2": 8, "y2": 6}}),
    Route("PATCH",  "/api/v1/annotations/{annotation}",           "200 200 200 200 403 404 401 401",
          body={"geometry": {"x1": 2, "y1": 2, "x2": 9, "y2": 7}}),
    Route("DELETE", "/api/v1/annotations/{annotation}",           "204 204 204 204 403 404 401 401"),
    Route("GET",    IMG + "/predictions",                         "200 200 200 200 200 404 401 401"),
    Route("POST",   IMG + "/predictions/{model_version}/review",  "200 200 200 200 403 404 401 401",
          body={"index": 0, "verdict": "accepted"}),
    Route("POST",   IMG + "/review",                              "200 200 200 200 403 404 401 401",
          body={"status": "reviewed"}),
    # -- the review queue and workflow: annotators take and give back images; viewers read
    Route("GET",    P + "/review/next",                           "200 200 200 200 403 404 401 401"),
    # Past the role check, a caller who holds no lease on the image is refused (409).
    Route("POST",   IMG + "/lease",                               "409 409 409 409 403 404 401 401"),
    Route("DELETE", IMG + "/lease",                               "409 409 409 409 403 404 401 401"),
    # Past the role check, a fresh image has no step of the caller's to undo (409).
    Route("POST",   IMG + "/review/undo",                         "409 409 409 409 403 404 401 401"),
    Route("GET",    IMG + "/review/history",                      "200 200 200 200 200 404 401 401"),
    Route("GET",    P + "/review/stats",                          "200 200 200 200 200 404 401 401"),
    # Past the role check, a model version against itself is refused (422).
    Route("POST",   P + "/review/disagreement",                   "422 422 422 422 403 404 401 401",
          body={"model_version_id": "{model_version}", "versus": "{model_version}"}),
    Route("POST",   IMG + "/predictions/{model_version}/accept-all",
                                                                  "200 200 200 200 403 404 401 401"),
    Route("POST",   IMG + "/predictions/{model_version}/correct", "201 201 201 201 403 404 401 401",
          body={"index": 0, "kind": "box", "label": "cat",
                "geometry": {"x1": 1, "y1": 1, "x2": 9, "y2": 7}}),
    Route("GET",    IMG + "/agreement",                           "200 200 200 200 200 404 401 401"),
    # Past the role check, an image without two annotators has no consensus to accept (409).
    Route("POST",   IMG + "/consensus/accept",                    "409 409 409 409 403 404 401 401",
          body={}),
    Route("GET",    P + "/agreement",                             "200 200 200 200 200 404 401 401"),
    # -- jobs and models
    Route("GET",    "/api/v1/models",                             "200 200 200 200 200 200 401 401"),
    Route("POST",   P + "/jobs",                                  "201 201 201 201 403 404 401 401",
          body={"model": "fixed-boxes", "save_outputs": False}),
    Route("GET",    P + "/jobs",                                  "200 200 200 200 200 404 401 401"),
    Route("GET",    "/api/v1/jobs/{job}",                         "200 200 200 200 200 404 401 401"),
    Route("GET",    "/api/v1/jobs/{job}/results",                 "200 200 200 200 200 404 401 401"),
    Route("POST",   "/api/v1/jobs/{job}/cancel",                  "200 200 200 200 403 404 401 401"),
    # -- exports and imports
    Route("GET",    P + "/export?source=annotations&format=json", "200 200 200 200 200 404 401 401"),
    Route("GET",    P + "/export/labelstudio-config",             "200 200 200 200 200 404 401 401"),
    # -- evaluations and the dashboard: annotators run an evaluation, viewers read
    Route("POST",   P + "/evaluations",                           "202 202 202 202 403 404 401 401",
          body={"model": "fixed-boxes", "ground_truth": "annotations"}),
    Route("GET",    P + "/evaluations",                           "200 200 200 200 200 404 401 401"),
    Route("GET",    P + "/evaluations/{evaluation}",              "200 200 200 200 200 404 401 401"),
    Route("GET",    P + "/evaluations/{evaluation}/images",       "200 200 200 200 200 404 401 401"),
    Route("GET",    P + "/evaluations/{evaluation}/images/{image}",
                                                                  "200 200 200 200 200 404 401 401"),
    Route("GET",    P + "/stats",                                 "200 200 200 200 200 404 401 401"),
    # Importing labels is labelling (annotator and up); past the check, a JPEG is no COCO file.
    Route("POST",   P + "/labels/import",                         "422 422 422 422 403 404 401 401",
          upload="files", form={"format": "coco"}),
    Route("POST",   P + "/imports",                               "200 403 403 403 403 404 401 401",
          body={"source_url": "{server_folder}"}),
    # Past the role check, a source URL without a bucket is refused (422), before any I/O.
    Route("POST",   P + "/imports",                               "422 422 422 403 403 404 401 401",
          body={"source_url": "s3:///no-bucket"}),
    # -- KServe v2: any signed-in user (models are not project data)
    Route("GET",    "/v2/models/{model}",                         "200 200 200 200 200 200 401 401"),
    Route("GET",    "/v2/models/{model}/ready",                   "200 200 200 200 200 200 401 401"),
    Route("POST",   "/v2/models/{model}/infer",                   "200 200 200 200 200 200 401 401",
          body={"inputs": [{"name": "image", "shape": [1, 2, 2, 3], "datatype": "UINT8",
                            "data": [7] * 12}]}),
    Route("GET",    "/v2/models/{model}/versions/{version}",      "200 200 200 200 200 200 401 401"),
    Route("GET",    "/v2/models/{model}/versions/{version}/ready",
                                                                  "200 200 200 200 200 200 401 401"),
    Route("POST",   "/v2/models/{model}/versions/{version}/infer",
                                                                  "200 200 200 200 200 200 401 401",
          body={"inputs": [{"name": "image", "shape": [1, 2, 2, 3], "datatype": "UINT8",
                            "data": [7] * 12}]}),
    # -- ML analyses: members read; a manager or a signed pipeline creates; only a pipeline writes
    Route("POST",   "/api/images/{image}/analyses",               "201 201 201 403 403 404 401 201",
          body={"model_name": "yolo_v8"}),
    Route("GET",    "/api/images/{image}/analyses",               "200 200 200 200 200 404 401 401"),
    Route("GET",    AN,                                           "200 200 200 200 200 404 401 401"),
    Route("GET",    AN + "/export",                               "200 200 200 200 200 404 401 401"),
    Route("PATCH",  AN + "/status",                               "401 401 401 401 401 401 401 200",
          body={"status": "processing"}),
    Route("POST",   AN + "/artifacts/presign",                    "401 401 401 401 401 401 401 200",
          body={"artifact_type": "heatmap", "filename": "heat.png"}),
    Route("POST",   "/api/analyses/{processing_analysis}/annotations:bulk",
                                                                  "401 401 401 401 401 401 401 201",
          body={"annotations": [{"annotation_type": "classification", "class_name": "cat"}]}),
    Route("POST",   "/api/analyses/{processing_analysis}/finalize",
                                                                  "401 401 401 401 401 401 401 200",
          body={"status": "failed", "error": "out of memory"}),
    # The signed link is the credential: no sign-in opens it, none is needed (a forged one: 403).
    Route("GET",    "/api/analysis-files/{token}",                "403 403 403 403 403 403 403 403"),
    Route("PUT",    "/api/analysis-files/{token}",                "403 403 403 403 403 403 403 403"),
    # -- the old services' contracts, in the project LABELBAY_LEGACY_PROJECT_ID
    Route("POST",   "/upload",                                    "200 200 200 200 403 404 401 401",
          upload="files"),
    Route("POST",   "/api/v1/predict",                            "200 200 200 200 403 404 401 401",
          upload="file", form={"user_id": "{user_uuid}"}),
    Route("GET",    "/api/v1/predictions?user_id={user_uuid}",    "200 200 200 200 200 404 401 401"),
    Route("POST",   "/images/",                                   "200 200 200 200 403 404 401 401",
          upload="file"),
]
# fmt: on


@dataclass
class World:
    """One app with a user per role, signed in once; `fresh_project()` builds a target per case."""

    stack: Stack
    headers: dict[str, dict[str, str]]
    user_ids: dict[str, int]
    model_version_id: int
    server_folder: Path
    pipeline: Pipeline

    def members(self, session: Any, project: Project) -> None:
        for role in MEMBER_ROLES:
            session.add(
                ProjectMember(project_id=project.id, user_id=self.user_ids[role], role=role)
            )

    def fresh_project(self) -> dict[str, Any]:
        """A project where owner/manager/annotator/viewer hold their roles, with a label and an
        image; admin, outsider and bystander are not members."""
        with transaction(self.stack.context.sessions) as session:
            project = Project(name="target", created_by_id=self.user_ids["owner"])
            session.add(project)
            session.flush()
            self.members(session, project)
            label = Label(project_id=project.id, name="cat")
            session.add(label)
            session.flush()
            project_id, label_id = project.id, label.id
        [image] = upload_ok(
            self.stack, project_id, self.headers["owner"], image_part(jpeg_bytes(), "t.jpg")
        )
        return {
            "project": project_id,
            "label": label_id,
            "image": image["id"],
            "viewer_id": self.user_ids["viewer"],
            "manager_id": self.user_ids["manager"],
        }

    def finished_evaluation(self, project_id: int, image_id: uuid.UUID) -> int:
        """An evaluation of model "m"'s label on the image, run to its end."""
        with transaction(self.stack.context.sessions) as session:
            box = {"x1": 1.0, "y1": 1.0, "x2": 8.0, "y2": 6.0}
            detection = labels.make("box", "cat", box, score=0.9, class_id=0).to_json()
            session.add(
                Prediction(
                    image_id=image_id,
                    model_version_id=self.model_version_id,
                    detections=[detection],
                    num_detections=1,
                )
            )
        base = f"/api/v1/projects/{project_id}/evaluations"
        made = self.stack.client.post(
            base,
            json={"model": "m", "model_version": "1", "ground_truth": "annotations"},
            headers=self.headers["owner"],
        )
        assert made.status_code == 202, made.text
        deadline = time.monotonic() + 30
        while True:
            row = self.stack.client.get(
                f"{base}/{made.json()['id']}", headers=self.headers["owner"]
            )
            if row.json()["status"] == "completed":
                return int(row.json()["id"])
            assert time.monotonic() < deadline, row.text
            time.sleep(0.05)

    def names_for(self, route: Route, role: str) -> dict[str, Any]:
        """The fresh project's names, plus what this route's path and body name."""
        names = self.fresh_project()
        image_id = uuid.UUID(names["image"])
        text = route.path + json.dumps(route.body)
        names.update(
            fresh_email=f"new-{uuid.uuid4().hex[:8]}@example.com",
            server_folder=self.server_folder.as_uri(),
            model="fixed-boxes",
            version="1",
            model_version=self.model_version_id,
            user_uuid=str(uuid.uuid4()),
            token="forged.token",
            path="",
        )
        if "{annotation}" in text:
            box = {"kind": "box", "label": "cat", "geometry": {"x1": 1, "y1": 1, "x2": 6, "y2": 5}}
            drawn = self.stack.client.post(
                f"/api/v1/images/{image_id}/annotations", json=box, headers=self.headers["owner"]
            )
            assert drawn.status_code == 201, drawn.text
            names["annotation"] = drawn.json()["id"]
        if "{evaluation}" in text:
            names["evaluation"] = self.finished_evaluation(names["project"], image_id)
        if "{key}" in text:
            # Each caller revokes a key of their own; anonymous and the pipeline aim at the owner's.
            names["key"] = self.api_key_of(role if role in self.user_ids else "owner")
        with transaction(self.stack.context.sessions) as session:
            image = session.get(Image, image_id)
            owner = session.get(User, self.user_ids["owner"])
            assert image is not None
            assert owner is not None
            if "{model_version}" in text:
                box = {"x1": 1.0, "y1": 1.0, "x2": 8.0, "y2": 6.0}
                detection = labels.make("box", "cat", box, score=0.9, class_id=0).to_json()
                session.add(
                    Prediction(
                        image_id=image_id,
                        model_version_id=self.model_version_id,
                        detections=[detection],
                        num_detections=1,
                    )
                )
            if "{job}" in text:
                project = session.get(Project, names["project"])
                assert project is not None
                # Queued, never submitted: the rules are about the rows, not the work.
                names["job"] = jobs.create_job(
                    session, project=project, user=owner, model_name="fixed-boxes"
                ).id
            for placeholder in ("analysis", "processing_analysis"):
                if "{" + placeholder + "}" in text:
                    analysis = analyses.create_analysis(
                        session,
                        image=image,
                        model_name="yolo_v8",
                        model_version="",
                        parameters={},
                        allowed_models=["yolo_v8"],
                        created_by=None,
                    )
                    if placeholder == "processing_analysis":
                        analyses.set_status(
                            session, analysis=analysis, status=AnalysisStatus.processing
                        )
                    names[placeholder] = str(analysis.id)
        return names

    def api_key_of(self, role: str) -> int:
        with transaction(self.stack.context.sessions) as session:
            user = session.get(User, self.user_ids[role])
            assert user is not None
            row, _ = create_api_key(session, user=user, name="to revoke")
            return row.id


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("matrix")
    database = root / "labelbay.db"
    database.write_bytes(sqlite_template.read_bytes())
    settings = make_settings(
        f"sqlite:///{database}",
        f"file://{root}/objects",
        model_cache_dir=str(root / "model-cache"),
        legacy_detect_model="fixed-boxes",
        legacy_circles_model="fixed-circles",
        **ANALYSES_SETTINGS,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        stack = Stack(name="embedded", settings=settings, app=app, client=client)
        register_fixed_models(stack, root)
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for role in ("admin", *MEMBER_ROLES, "outsider", "bystander"):
            headers[role] = stack.user(f"{role}@example.com", admin=role == "admin")
        user_ids = {
            role: stack.client.get("/api/v1/users/me", headers=h).json()["id"]
            for role, h in headers.items()
            if role != "anonymous"
        }
        world = World(
            stack=stack,
            headers=headers,
            user_ids=user_ids,
            model_version_id=0,
            server_folder=root / "server-folder",
            pipeline=Pipeline(stack),
        )
        world.server_folder.mkdir()
        with transaction(stack.context.sessions) as session:
            version = ModelVersion(name="m", version="1", task="detect", format="onnx-yolo")
            session.add(version)
            legacy = Project(name="legacy", created_by_id=user_ids["owner"])
            session.add(legacy)
            session.flush()
            world.members(session, legacy)
            world.model_version_id = version.id
            settings.legacy_project_id = legacy.id
        yield world


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def _request(world: World, route: Route, role: str, names: dict[str, Any]) -> Any:
    url = route.path.replace("{path:path}", "{path}").format(**names)
    headers = dict(world.headers.get(role, {}))
    content: bytes = b""
    if route.upload:
        parts = [Part(jpeg_bytes(seed=7), "new.jpg", field=route.upload, content_type="image/jpeg")]
        parts += [Part(_fill(v, names).encode(), None, field=k) for k, v in route.form.items()]
        content, headers["Content-Type"] = multipart(*parts)
    elif route.sign_in_form:
        content = f"username=owner%40example.com&password={PASSWORD}".encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif route.body is not None:
        content = json.dumps(_fill(route.body, names)).encode()
        headers["Content-Type"] = "application/json"
    if role == "pipeline":
        # A correct signature over exactly these bytes: what it opens is the pipeline's rights.
        path = url.split("?")[0]
        signed = world.pipeline.headers(route.method, path, content)
        headers.update({k: v for k, v in signed.items() if k != "Content-Type"})
    return world.stack.client.request(route.method, url, content=content, headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", MATRIX, ids=[r.id for r in MATRIX])
def test_access(world: World, route: Route, role: str) -> None:
    expected = int(route.expected.split()[ROLES.index(role)])
    names = world.names_for(route, role)
    answer = _request(world, route, role, names)

    assert answer.status_code == expected, f"{role} {route.id}: {answer.text[:500]}"
    if expected == 404 and role == "outsider":
        # Nothing about the project leaks: the same answer as for one that does not exist.
        assert "not found" in answer.text
    if expected == 401 and not route.path.startswith("/api/analyses/"):
        assert answer.headers["www-authenticate"] == "Bearer"


def _served_routes(world: World) -> set[tuple[str, str]]:
    """Every (method, path) the app answers: its OpenAPI schema, the routes it leaves out of the
    schema (every router module of labelbay.api.routes, walked), and the app's own (docs)."""
    served = {
        (method.upper(), path)
        for path, operations in world.stack.app.openapi()["paths"].items()
        for method in operations
    }
    package = labelbay.api.routes
    for module in pkgutil.iter_modules(package.__path__):
        router = importlib.import_module(f"{package.__name__}.{module.name}").router
        for route in router.routes:
            assert isinstance(route, APIRoute), route
            served |= {(method, route.path) for method in route.methods if method != "HEAD"}
    for route in world.stack.app.routes:
        if isinstance(route, StarletteRoute) and route.methods:
            served |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return served


def test_matrix_covers_every_route(world: World) -> None:
    """A new route, in the schema or not, must get a row in MATRIX (or this fails): the policy
    stays written."""
    renames = {
        "{project}": "{project_id}",
        "{image}": "{image_id}",
        "{label}": "{label_id}",
        "{viewer_id}": "{user_id}",
        "{manager_id}": "{user_id}",
        "{key}": "{key_id}",
        "{annotation}": "{annotation_id}",
        "{model_version}": "{model_version_id}",
        "{job}": "{job_id}",
        "{evaluation}": "{evaluation_id}",
        "{model}": "{name}",
        "{processing_analysis}": "{analysis_id}",
        "{analysis}": "{analysis_id}",
    }
    covered = set()
    for route in MATRIX:
        path = route.path.split("?")[0]
        for ours, theirs in renames.items():
            path = path.replace(ours, theirs)
        covered.add((route.method, path))
    served = _served_routes(world)
    assert served - covered == set(), "routes without a row in MATRIX"
    assert covered - served == set(), "rows for routes the app does not serve"
    assert ("GET", "/api/analysis-files/{token}") in served  # the walk sees unlisted routes too


# -- credentials --------------------------------------------------------------------------------


def _key(world: World, role: str, **body: Any) -> dict[str, Any]:
    answer = world.stack.client.post(
        "/api/v1/users/me/api-keys", json={"name": "script", **body}, headers=world.headers[role]
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_api_key_works_as_bearer_and_as_x_api_key(world: World) -> None:
    created = _key(world, "annotator")
    key = created["key"]
    assert key.startswith("lbk_")
    assert created["prefix"] == key[:12]
    client = world.stack.client
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        me = client.get("/api/v1/users/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "annotator@example.com"
    # The key carries the user's roles, nothing more.
    target = world.fresh_project()
    headers = {"X-API-Key": key}
    assert client.get(f"/api/v1/projects/{target['project']}", headers=headers).status_code == 200
    assert client.delete(f"/api/v1/images/{target['image']}", headers=headers).status_code == 403
    listed = client.get("/api/v1/users/me/api-keys", headers=world.headers["annotator"]).json()
    mine = next(k for k in listed if k["id"] == created["id"])
    assert "key" not in mine
    assert mine["last_used_at"] is not None


def test_revoked_key_gets_401(world: World) -> None:
    created = _key(world, "viewer")
    headers = {"Authorization": f"Bearer {created['key']}"}
    client = world.stack.client
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    revoked = client.delete(
        f"/api/v1/users/me/api-keys/{created['id']}", headers=world.headers["viewer"]
    )
    assert revoked.status_code == 204
    for sent in (headers, {"X-API-Key": created["key"]}):
        assert client.get("/api/v1/users/me", headers=sent).status_code == 401
    listed = client.get("/api/v1/users/me/api-keys", headers=world.headers["viewer"]).json()
    assert created["id"] not in {k["id"] for k in listed}


def test_someone_elses_key_cannot_be_revoked(world: World) -> None:
    created = _key(world, "viewer")
    answer = world.stack.client.delete(
        f"/api/v1/users/me/api-keys/{created['id']}", headers=world.headers["annotator"]
    )
    assert answer.status_code == 404
    me = world.stack.client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]})
    assert me.status_code == 200


@pytest.mark.parametrize(
    "credential",
    ["lbk_" + "x" * 43, "not-a-jwt", "a.b.c"],
    ids=["unknown-key", "garbage", "malformed-jwt"],
)
def test_unknown_credentials_get_401(world: World, credential: str) -> None:
    answer = world.stack.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {credential}"}
    )
    assert answer.status_code == 401


def _token(world: World, role: str, *, secret: str | None = None, **times: Any) -> str:
    settings = world.stack.settings
    return create_access_token(
        user_id=world.user_ids[role],
        secret=secret or settings.secret_key.get_secret_value(),
        algorithm=settings.jwt_algorithm,
        expires_in=times.get("expires_in", timedelta(hours=1)),
        now=times.get("now"),
    )


def test_expired_jwt_gets_401(world: World) -> None:
    stale = _token(world, "owner", now=datetime.now(UTC) - timedelta(hours=2))
    answer = world.stack.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {stale}"}
    )
    assert answer.status_code == 401
    assert answer.json()["detail"] == "token has expired"
    fresh = _token(world, "owner")
    ok = world.stack.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {fresh}"})
    assert ok.status_code == 200


def test_jwt_signed_with_another_secret_gets_401(world: World) -> None:
    forged = _token(world, "admin", secret="someone-elses-secret-of-enough-length!!")
    answer = world.stack.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}
    )
    assert answer.status_code == 401


def test_sign_in_with_a_wrong_password_gets_401(world: World) -> None:
    answer = world.stack.client.post(
        "/api/v1/auth/token", data={"username": "owner@example.com", "password": "wrong-one!"}
    )
    assert answer.status_code == 401
    assert "access_token" not in answer.json()


def test_users_never_see_other_users_projects(world: World) -> None:
    client = world.stack.client
    mine = {
        role: world.stack.project(world.headers[role], name=f"{role}'s private project")["id"]
        for role in ("annotator", "outsider")
    }
    shared = world.fresh_project()["project"]

    def listed_by(headers: dict[str, str]) -> set[int]:
        answer = client.get("/api/v1/projects", headers=headers)
        assert answer.status_code == 200
        return {p["id"] for p in answer.json()["projects"]}

    def listed(role: str) -> set[int]:
        return listed_by(world.headers[role])

    assert mine["annotator"] in listed("annotator")
    assert shared in listed("annotator")
    assert mine["outsider"] not in listed("annotator")
    assert mine["outsider"] in listed("outsider")
    assert mine["annotator"] not in listed("outsider")
    assert shared not in listed("outsider")
    assert listed_by(world.stack.user(f"loner-{uuid.uuid4().hex[:6]}@example.com")) == set()
    assert {mine["annotator"], mine["outsider"], shared} <= listed("admin")
    roles = {
        p["id"]: p["role"]
        for p in client.get("/api/v1/projects", headers=world.headers["viewer"]).json()["projects"]
    }
    assert roles[shared] == "viewer"


def test_manager_cannot_demote_or_remove_an_owner_and_the_last_owner_stays(world: World) -> None:
    client = world.stack.client
    names = world.fresh_project()
    members = f"/api/v1/projects/{names['project']}/members"
    demote = client.put(
        members,
        json={"email": "owner@example.com", "role": "viewer"},
        headers=world.headers["manager"],
    )
    assert demote.status_code == 403
    remove_last_owner = client.delete(
        f"{members}/{world.user_ids['owner']}", headers=world.headers["owner"]
    )
    assert remove_last_owner.status_code == 409, remove_last_owner.text
    assert remove_last_owner.json()["detail"] == "a project must keep at least one owner"
    listed = client.get(members, headers=world.headers["viewer"]).json()
    assert {m["email"]: m["role"] for m in listed}["owner@example.com"] == Role.owner.value
