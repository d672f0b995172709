"""Who may do what: every /api/v1 route against every kind of caller, as one table.

The policy, as the code implements it (admins act as owners everywhere):

- viewer     reads the project, its members, labels, images, image content and comments;
- annotator  + uploads images, edits image metadata, comments;
- manager    + edits the project, the label set and the annotator/viewer members, deletes images;
- owner      + deletes the project, grants and removes the manager and owner roles;
- a signed-in user who is not a member gets 404 for the project and its images (as if they did
  not exist), anyone without credentials 401, a member whose role is too low 403.

The matrix runs on the embedded stack only: the policy lives above storage and SQL dialect, and one
shared app (users signed in once) keeps ~200 cases fast. Each case gets a fresh project, so a
DELETE in one case never changes what another sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelbay.api.app import create_app
from labelbay.db.models import Label, Project, ProjectMember, Role, User
from labelbay.db.session import transaction
from labelbay.security.tokens import create_access_token
from labelbay.services.users import create_api_key
from tests.api.factories import image_part, jpeg_bytes, multipart, upload_ok
from tests.support.stack import Stack, make_settings

ROLES = ("admin", "owner", "manager", "annotator", "viewer", "outsider", "anonymous")
MEMBER_ROLES = ("owner", "manager", "annotator", "viewer")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {project} {image} {label} {viewer_id} {manager_id} {key} are filled per case
    expected: str  # one status per caller, in the order of ROLES
    body: Any = None
    upload: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" {self.body}" if self.body else "")


P = "/api/v1/projects/{project}"
IMG = "/api/v1/images/{image}"
# fmt: off
# Expected status per caller:                                     adm own mgr ann vwr out anon
#   (admin, owner, manager, annotator, viewer, non-member, anonymous)
MATRIX = [
    Route("GET",    "/api/v1/projects",                          "200 200 200 200 200 200 401"),
    Route("POST",   "/api/v1/projects",                          "201 201 201 201 201 201 401",
          body={"name": "new"}),
    Route("GET",    P,                                           "200 200 200 200 200 404 401"),
    Route("PATCH",  P,                                           "200 200 200 403 403 404 401",
          body={"name": "renamed"}),
    Route("DELETE", P,                                           "204 204 403 403 403 404 401"),
    Route("GET",    P + "/members",                              "200 200 200 200 200 404 401"),
    Route("PUT",    P + "/members",                              "200 200 200 403 403 404 401",
          body={"email": "bystander@example.com", "role": "annotator"}),
    Route("PUT",    P + "/members",                              "200 200 200 403 403 404 401",
          body={"email": "bystander@example.com", "role": "viewer"}),
    Route("PUT",    P + "/members",                              "200 200 403 403 403 404 401",
          body={"email": "bystander@example.com", "role": "manager"}),
    Route("PUT",    P + "/members",                              "200 200 403 403 403 404 401",
          body={"email": "bystander@example.com", "role": "owner"}),
    Route("DELETE", P + "/members/{viewer_id}",                  "204 204 204 403 403 404 401"),
    Route("DELETE", P + "/members/{manager_id}",                 "204 204 403 403 403 404 401"),
    Route("GET",    P + "/labels",                               "200 200 200 200 200 404 401"),
    Route("POST",   P + "/labels",                               "201 201 201 403 403 404 401",
          body={"name": "dog"}),
    Route("PATCH",  P + "/labels/{label}",                       "200 200 200 403 403 404 401",
          body={"color": "#00ff00"}),
    Route("DELETE", P + "/labels/{label}",                       "204 204 204 403 403 404 401"),
    Route("POST",   P + "/images",                               "201 201 201 201 403 404 401",
          upload=True),
    Route("GET",    P + "/images",                               "200 200 200 200 200 404 401"),
    Route("GET",    IMG,                                         "200 200 200 200 200 404 401"),
    Route("PATCH",  IMG,                                         "200 200 200 200 403 404 401",
          body={"metadata": {"checked": True}}),
    Route("GET",    IMG + "/content",                            "200 200 200 200 200 404 401"),
    Route("GET",    IMG + "/thumbnail",                          "200 200 200 200 200 404 401"),
    Route("DELETE", IMG,                                         "204 204 204 403 403 404 401"),
    Route("GET",    IMG + "/comments",                           "200 200 200 200 200 404 401"),
    Route("POST",   IMG + "/comments",                           "201 201 201 201 403 404 401",
          body={"text": "looks right"}),
    Route("GET",    "/api/v1/users/me",                          "200 200 200 200 200 200 401"),
    Route("POST",   "/api/v1/users",                             "201 403 403 403 403 403 401",
          body={"email": "{fresh_email}", "password": "another-long-password"}),
    Route("GET",    "/api/v1/users/me/api-keys",                 "200 200 200 200 200 200 401"),
    Route("POST",   "/api/v1/users/me/api-keys",                 "201 201 201 201 201 201 401",
          body={"name": "ci"}),
    Route("DELETE", "/api/v1/users/me/api-keys/{key}",           "204 204 204 204 204 204 401"),
]
# fmt: on


@dataclass
class World:
    """One app with a user per role, signed in once; `fresh_project()` builds a target per case."""

    stack: Stack
    headers: dict[str, dict[str, str]]
    user_ids: dict[str, int]

    def fresh_project(self) -> dict[str, Any]:
        """A project where owner/manager/annotator/viewer hold their roles, with a label and an
        image; admin, outsider and bystander are not members."""
        with transaction(self.stack.context.sessions) as session:
            project = Project(name="target", created_by_id=self.user_ids["owner"])
            session.add(project)
            session.flush()
            for role in MEMBER_ROLES:
                session.add(
                    ProjectMember(project_id=project.id, user_id=self.user_ids[role], role=role)
                )
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
    settings = make_settings(f"sqlite:///{database}", f"file://{root}/objects")
    app = create_app(settings)
    with TestClient(app) as client:
        stack = Stack(name="embedded", settings=settings, app=app, client=client)
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for role in ("admin", *MEMBER_ROLES, "outsider", "bystander"):
            headers[role] = stack.user(f"{role}@example.com", admin=role == "admin")
        user_ids = {
            role: stack.client.get("/api/v1/users/me", headers=h).json()["id"]
            for role, h in headers.items()
            if role != "anonymous"
        }
        yield World(stack=stack, headers=headers, user_ids=user_ids)


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", MATRIX, ids=[r.id for r in MATRIX])
def test_access(world: World, route: Route, role: str) -> None:
    expected = int(route.expected.split()[ROLES.index(role)])
    names = world.fresh_project()
    names["fresh_email"] = f"new-{uuid.uuid4().hex[:8]}@example.com"
    if "{key}" in route.path:
        # Each caller revokes a key of their own; anonymous aims at the owner's.
        names["key"] = world.api_key_of("owner" if role == "anonymous" else role)
    url = route.path.format(**names)
    headers = world.headers[role]
    client = world.stack.client

    if route.upload:
        body, content_type = multipart(image_part(jpeg_bytes(seed=7), "new.jpg"))
        answer = client.post(url, content=body, headers={**headers, "Content-Type": content_type})
    else:
        answer = client.request(route.method, url, json=_fill(route.body, names), headers=headers)

    assert answer.status_code == expected, f"{role} {route.id}: {answer.text}"
    if expected == 404 and role == "outsider":
        # Nothing about the project leaks: the same answer as for one that does not exist.
        assert "not found" in answer.json()["detail"]
    if expected == 401:
        assert answer.headers["www-authenticate"] == "Bearer"


# The routers of the platform core. Later features (jobs, analyses, ...) bring their own access
# tests; their routes are left out here so a new feature does not have to edit this file.
CORE_TAGS = {"auth", "projects", "images"}


def test_matrix_covers_every_api_route(world: World) -> None:
    """A new core /api/v1 route must get a row in MATRIX (or this fails): the policy stays written."""
    served = {
        (method.upper(), path)
        for path, operations in world.stack.app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in operations.items()
        if CORE_TAGS & set(operation.get("tags", []))
    }
    renames = {
        "{project}": "{project_id}",
        "{image}": "{image_id}",
        "{label}": "{label_id}",
        "{viewer_id}": "{user_id}",
        "{manager_id}": "{user_id}",
        "{key}": "{key_id}",
    }
    covered = set()
    for route in MATRIX:
        path = route.path
        for ours, theirs in renames.items():
            path = path.replace(ours, theirs)
        covered.add((route.method, path))
    # Sign-in is open to every caller by design; it has tests of its own below.
    assert served - covered == {("POST", "/api/v1/auth/token")}
    assert covered - served == set()


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
