"""Storage behaviour on both backends: a local folder and S3 through a real moto server.

Every test checks what it wrote with an independent tool (plain file reads, boto3), never with
the code under test, so a bug that writes and reads consistently wrong still fails.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelbay.storage import (
    LOCATION_NAMES,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    dated_key,
    new_image_key,
    open_locations,
    open_store,
)
from labelbay.storage.obstore_store import PART_SIZE, ObstoreStore
from tests.support.moto_server import MotoServer

BIG = PART_SIZE + 4 * 1024 * 1024  # > one part, so uploads go multipart (12 MiB)


@dataclass
class Backend:
    """A store plus the independent tool's view of the same objects."""

    name: str
    store: ObjectStore
    read: Callable[[str], bytes]
    write: Callable[[str, bytes], None]
    keys: Callable[[], list[str]]
    s3: Any = None  # boto3 client, S3 only
    bucket: str = ""


def _local_backend(root: Path) -> Backend:
    def write(key: str, data: bytes) -> None:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)

    def keys() -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    return Backend(
        "local", ObstoreStore.local(root), lambda k: (root / k).read_bytes(), write, keys
    )


def _s3_backend(moto: MotoServer, bucket: str, prefix: str = "base/pre") -> Backend:
    s3 = moto.client()

    def keys() -> list[str]:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(o["Key"].removeprefix(f"{prefix}/") for o in listed)

    return Backend(
        "s3",
        open_store(f"s3://{bucket}/{prefix}?endpoint={moto.endpoint_url}&region=us-east-1"),
        lambda k: s3.get_object(Bucket=bucket, Key=f"{prefix}/{k}")["Body"].read(),
        lambda k, d: s3.put_object(Bucket=bucket, Key=f"{prefix}/{k}", Body=d),
        keys,
        s3,
        bucket,
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return _local_backend(tmp_path / "objects")
    moto: MotoServer = request.getfixturevalue("moto_s3")
    return _s3_backend(moto, request.getfixturevalue("s3_bucket"))


class NonSeekable(io.RawIOBase):
    """A stream that can only be read forward, like a request body or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def _payload(size: int) -> bytes:
    return os.urandom(size)


@pytest.mark.parametrize("size", [0, 1000, BIG], ids=["empty", "small", "multipart"])
@pytest.mark.parametrize("kind", ["bytes", "file", "path", "stream"])
def test_put_is_read_back_by_the_real_tool(
    backend: Backend, tmp_path: Path, kind: str, size: int
) -> None:
    data = _payload(size)
    key = f"images/{kind}/{size}.bin"
    if kind == "bytes":
        info = backend.store.put(key, data, content_type="image/png")
    else:
        source = tmp_path / "source.bin"
        source.write_bytes(data)
        if kind == "path":
            info = backend.store.put(key, source, content_type="image/png")
        elif kind == "file":
            with source.open("rb") as file:
                info = backend.store.put(key, file, content_type="image/png")
        else:
            stream = io.BufferedReader(NonSeekable(data))
            info = backend.store.put(key, stream, content_type="image/png")
    assert backend.read(key) == data
    assert (info.key, info.size, info.content_type) == (key, size, "image/png")
    assert backend.keys() == [key]
    if backend.s3 is not None:
        head = backend.s3.head_object(Bucket=backend.bucket, Key=f"base/pre/{key}")
        assert head["ContentType"] == "image/png"
        assert head["ETag"] == info.etag
        # S3 marks multipart objects with a "-<parts>" ETag: proof the big file went in parts.
        assert head["ETag"].strip('"').endswith("-2") == (size == BIG)


def test_put_file_object_uploads_from_its_current_position(backend: Backend) -> None:
    file = io.BytesIO(b"header:body")
    file.seek(7)
    assert backend.store.put("a.bin", file).size == 4
    assert backend.read("a.bin") == b"body"


def test_put_replaces_existing_object(backend: Backend) -> None:
    backend.write("a.bin", b"old")
    backend.store.put("a.bin", b"new")
    assert backend.read("a.bin") == b"new"


def test_put_from_missing_path_raises_file_not_found(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        backend.store.put("a.bin", tmp_path / "absent.bin")
    assert backend.keys() == []


def test_get_and_iter_chunks_read_what_the_tool_wrote(backend: Backend) -> None:
    data = _payload(3 * 1024 * 1024 + 5)
    backend.write("x/y.bin", data)
    assert backend.store.get("x/y.bin") == data
    chunks = list(backend.store.iter_chunks("x/y.bin", chunk_size=1024 * 1024))
    assert b"".join(chunks) == data
    assert all(len(c) >= 1024 * 1024 for c in chunks[:-1])


def test_head_and_exists(backend: Backend) -> None:
    backend.write("x/y.bin", b"12345")
    info = backend.store.head("x/y.bin")
    assert (info.key, info.size) == ("x/y.bin", 5)
    assert info.etag
    assert info.last_modified is not None
    assert abs(info.last_modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert backend.store.exists("x/y.bin")
    assert not backend.store.exists("x/z.bin")
    assert not backend.store.exists("x")  # a "folder" is not an object


def test_head_returns_the_stored_content_type(backend: Backend) -> None:
    backend.store.put("a.jpg", b"jpeg", content_type="image/jpeg")
    # Local folders keep no content type; S3 returns what was stored.
    expected = None if backend.name == "local" else "image/jpeg"
    assert backend.store.head("a.jpg").content_type == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "",
            ["images/2024/01/a.jpg", "images/2024/02/b.jpg", "images/2025/c.jpg", "models/m.onnx"],
        ),
        ("images/", ["images/2024/01/a.jpg", "images/2024/02/b.jpg", "images/2025/c.jpg"]),
        ("images/2024", ["images/2024/01/a.jpg", "images/2024/02/b.jpg"]),
        ("images/2024/0", ["images/2024/01/a.jpg", "images/2024/02/b.jpg"]),
        ("images/2024/01/a", ["images/2024/01/a.jpg"]),
        ("mod", ["models/m.onnx"]),
        ("nothing/", []),
        ("images/2026", []),
    ],
)
def test_list_matches_string_prefixes(backend: Backend, prefix: str, expected: list[str]) -> None:
    for key in ["images/2024/01/a.jpg", "images/2024/02/b.jpg", "images/2025/c.jpg"]:
        backend.write(key, b"img")
    backend.write("models/m.onnx", b"model!")
    infos = list(backend.store.list(prefix))
    assert sorted(i.key for i in infos) == expected
    assert all(isinstance(i, ObjectInfo) and i.size in (3, 6) for i in infos)


def test_delete_is_idempotent(backend: Backend) -> None:
    backend.write("a/b.bin", b"x")
    backend.write("a/c.bin", b"y")
    backend.store.delete("a/b.bin")
    backend.store.delete("a/b.bin")
    backend.store.delete("never/there.bin")
    assert backend.keys() == ["a/c.bin"]


def test_copy(backend: Backend) -> None:
    backend.write("src/a.bin", b"payload")
    backend.store.copy("src/a.bin", "dst/deep/a.bin")
    assert backend.read("dst/deep/a.bin") == b"payload"
    assert backend.read("src/a.bin") == b"payload"


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("missing.bin"),
        lambda s: s.iter_chunks("missing.bin"),
        lambda s: s.head("missing.bin"),
        lambda s: s.copy("missing.bin", "other.bin"),
    ],
    ids=["get", "iter_chunks", "head", "copy"],
)
def test_missing_key_raises_object_not_found(
    backend: Backend, call: Callable[[ObjectStore], object]
) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        call(backend.store)
    assert caught.value.key == "missing.bin"
    assert isinstance(caught.value, StorageError)


BAD_KEYS = ["", "/abs.jpg", "../up.jpg", "a/../b.jpg", "a/..", "./a.jpg", "a//b.jpg", "a/",
            "a\\b.jpg", "a\x00b.jpg", "a\nb.jpg"]  # fmt: skip


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize(
    "call",
    [
        lambda s, k: s.put(k, b"x"),
        lambda s, k: s.get(k),
        lambda s, k: s.iter_chunks(k),
        lambda s, k: s.delete(k),
        lambda s, k: s.exists(k),
        lambda s, k: s.head(k),
        lambda s, k: s.copy("ok.bin", k),
        lambda s, k: s.presign(k, expires_in=timedelta(minutes=1)),
    ],
    ids=["put", "get", "iter_chunks", "delete", "exists", "head", "copy", "presign"],
)
def test_invalid_keys_are_rejected(
    backend: Backend, key: str, call: Callable[[ObjectStore, str], object]
) -> None:
    backend.write("ok.bin", b"x")
    with pytest.raises(ValueError, match=r"key|empty"):
        call(backend.store, key)
    assert backend.keys() == ["ok.bin"]


@pytest.mark.parametrize("prefix", ["/a", "../", "a/../b", "a//", "a\\b", "a\x00"])
def test_invalid_list_prefixes_are_rejected(backend: Backend, prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        list(backend.store.list(prefix))


def test_presign_get_and_put_on_s3(moto_s3: MotoServer, s3_bucket: str) -> None:
    backend = _s3_backend(moto_s3, s3_bucket)
    backend.write("img/a.jpg", b"jpeg bytes")
    url = backend.store.presign("img/a.jpg", expires_in=timedelta(minutes=5))
    assert url is not None
    assert "testing" not in url.split("X-Amz-Signature")[-1]  # no secret in the URL
    got = httpx.get(url)
    assert (got.status_code, got.content) == (200, b"jpeg bytes")

    put_url = backend.store.presign("img/b.jpg", method="PUT", expires_in=timedelta(minutes=5))
    assert put_url is not None
    assert httpx.put(put_url, content=b"uploaded by a client").status_code == 200
    assert backend.read("img/b.jpg") == b"uploaded by a client"


def test_presign_on_local_returns_none(tmp_path: Path) -> None:
    store = ObstoreStore.local(tmp_path)
    assert store.presign("a.jpg", expires_in=timedelta(minutes=5)) is None


def test_ping_succeeds_on_both_backends(backend: Backend) -> None:
    backend.store.ping()


def test_ping_fails_on_missing_bucket(moto_s3: MotoServer) -> None:
    store = open_store(
        f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}?endpoint={moto_s3.endpoint_url}"
    )
    with pytest.raises(StorageError):
        store.ping()


def test_ping_fails_on_dead_endpoint(moto_s3: MotoServer) -> None:
    # moto_s3 only for its dummy credentials; port 9 on loopback has no listener.
    store = open_store("s3://bucket?endpoint=http://127.0.0.1:9")
    with pytest.raises(StorageError):
        store.ping()


def test_ping_fails_when_local_folder_vanishes(tmp_path: Path) -> None:
    store = ObstoreStore.local(tmp_path / "objects")
    shutil.rmtree(tmp_path / "objects")
    with pytest.raises(StorageError):
        store.ping()


def test_open_store_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("file://./data/objects")
    relative.put("a.txt", b"rel")
    assert (tmp_path / "data/objects/a.txt").read_bytes() == b"rel"
    assert relative.url == (tmp_path / "data/objects").as_uri()
    absolute = open_store((tmp_path / "abs").as_uri())
    absolute.put("b.txt", b"abs")
    assert (tmp_path / "abs/b.txt").read_bytes() == b"abs"


def test_s3_url_names_no_credentials(moto_s3: MotoServer, s3_bucket: str) -> None:
    store = open_store(
        f"s3://{s3_bucket}/p?endpoint={moto_s3.endpoint_url}",
        s3_access_key_id="AKIDSECRETISH",
        s3_secret_access_key="very-secret",
    )
    assert store.url == f"s3://{s3_bucket}/p?endpoint={moto_s3.endpoint_url}"
    assert "secret" not in repr(store).lower()
    store.put("k.bin", b"v")  # moto accepts any credentials
    assert moto_s3.client().get_object(Bucket=s3_bucket, Key="p/k.bin")["Body"].read() == b"v"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/x",
        "data/objects",
        "s3://",
        "s3://bucket?endpoint=http://x&typo=1",
        "s3://key:secret@bucket",
        "file://./x?y=1",
    ],
)
def test_open_store_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"storage URL|scheme|credentials"):
        open_store(url)


def test_open_locations_puts_each_under_its_own_prefix(moto_s3: MotoServer, s3_bucket: str) -> None:
    other = f"{s3_bucket}-models"
    moto_s3.client().create_bucket(Bucket=other)
    base = f"s3://{s3_bucket}/lb?endpoint={moto_s3.endpoint_url}"
    models_url = f"s3://{other}/m?endpoint={moto_s3.endpoint_url}"
    locations = open_locations(base, {"models": models_url, "output": None})
    for name, store in locations.items():
        store.put(f"{name}.bin", name.encode())
    s3 = moto_s3.client()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == [f"lb/{n}/{n}.bin" for n in sorted(LOCATION_NAMES) if n != "models"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=other)["Contents"]] == ["m/models.bin"]
    assert (
        s3.get_object(Bucket=s3_bucket, Key="lb/nolabel/nolabel.bin")["Body"].read() == b"nolabel"
    )


def test_open_locations_local_and_unknown_names(tmp_path: Path) -> None:
    locations = open_locations((tmp_path / "objects").as_uri(), {})
    locations.input.put("a.jpg", b"in")
    locations.artifacts.put("r.json", b"{}")
    assert (tmp_path / "objects/input/a.jpg").read_bytes() == b"in"
    assert (tmp_path / "objects/artifacts/r.json").read_bytes() == b"{}"
    with pytest.raises(ValueError, match="unknown storage location"):
        open_locations(tmp_path.as_uri(), {"inputs": "file:///tmp/x"})


def test_new_image_key_is_dated_in_utc() -> None:
    object_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    late_evening_in_new_york = datetime(2024, 5, 1, 22, 30, tzinfo=timezone(timedelta(hours=-4)))
    key = new_image_key(".JPG", now=late_evening_in_new_york, id=object_id)
    assert key == f"images/2024/05/02/{object_id}.jpg"
    before = datetime.now(UTC)
    fresh = new_image_key("png")
    after = datetime.now(UTC)  # the key is dated one of these two days, even across midnight
    assert fresh[len("images/") :][:10] in {f"{before:%Y/%m/%d}", f"{after:%Y/%m/%d}"}
    assert fresh.endswith(".png")
    assert new_image_key("png") != fresh
    assert dated_key("renders", "webp", now=late_evening_in_new_york, id=object_id).startswith(
        "renders/2024/05/02/"
    )


@pytest.mark.parametrize(
    ("kind", "ext", "now"),
    [
        ("images", "", None),
        ("images", "jp/g", None),
        ("images", "../x", None),
        ("../images", "jpg", None),
        ("Images", "jpg", None),
        ("images", "jpg", datetime(2024, 1, 1)),  # naive
    ],
)
def test_dated_key_rejects_bad_parts(kind: str, ext: str, now: datetime | None) -> None:
    with pytest.raises(ValueError, match=r"invalid|timezone"):
        dated_key(kind, ext, now=now)
