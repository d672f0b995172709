"""The model registry on both stacks: artifacts stored and verified, one active version per name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nudenet
import pytest

from labelbay.db.session import transaction
from labelbay.errors import Conflict, Invalid
from labelbay.inference.base import ModelError
from labelbay.services import models
from labelbay.services.model_cache import ModelManager
from tests.support.stack import Stack

YOLO_FILE = Path(nudenet.__file__).parent / "320n.onnx"


def register(stack: Stack, **kwargs: object) -> models.ModelVersion:
    with transaction(stack.context.sessions) as session:
        return models.register_model(
            session,
            store=stack.context.storage.models,
            **{"name": "faces", "format": "onnx-yolo", "file": YOLO_FILE, **kwargs},  # type: ignore[arg-type]
        )


def test_register_stores_artifact_and_activates_newest(stack: Stack) -> None:
    first = register(stack, input_size=(320, 320))
    second = register(stack, input_size=(320, 320))
    assert (first.version, second.version) == ("1", "2")
    stored = stack.context.storage.models.get(second.artifact_key or "")
    assert hashlib.sha256(stored).hexdigest() == second.artifact_sha256
    assert stored == YOLO_FILE.read_bytes()
    with stack.context.sessions() as session:
        active = models.get_version(session, name="faces")
        assert active.version == "2"
        models.activate_version(session, name="faces", version="1")
        session.commit()
        assert models.get_version(session, name="faces").version == "1"
        assert len(models.list_versions(session, name="faces")) == 2


def test_duplicate_version_is_a_conflict(stack: Stack) -> None:
    register(stack, version="a1")
    with pytest.raises(Conflict):
        register(stack, version="a1")


@pytest.mark.parametrize(
    ("content", "format_name", "message"),
    [
        (b"", "onnx-yolo", "empty"),
        (b"definitely not a protobuf", "onnx-yolo", "not a usable ONNX model"),
        (b"PK\x03\x04 broken zip", "torchscript", "not a TorchScript model"),
        (b"\x08\x01", "no-such-format", "unknown model format"),
    ],
)
def test_bad_artifacts_are_refused_at_registration(
    stack: Stack, tmp_path: Path, content: bytes, format_name: str, message: str
) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(content)
    with pytest.raises(Invalid, match=message):
        register(stack, file=bad, format=format_name)
    assert list(stack.context.storage.models.list("")) == []


def test_manager_downloads_verifies_and_caches(stack: Stack, tmp_path: Path) -> None:
    row = register(stack, input_size=(320, 320))
    cache = tmp_path / "cache"
    manager = ModelManager(
        sessions=stack.context.sessions, store=stack.context.storage.models, cache_dir=cache
    )
    model = manager.get("faces")
    assert model.spec.version == row.version
    assert manager.get("faces") is model  # loaded once
    assert (cache / f"{row.artifact_sha256}.onnx").read_bytes() == YOLO_FILE.read_bytes()
    manager.close()


def test_manager_refuses_a_tampered_artifact(stack: Stack, tmp_path: Path) -> None:
    row = register(stack, input_size=(320, 320))
    assert row.artifact_key is not None
    stack.context.storage.models.put(row.artifact_key, b"tampered bytes")
    manager = ModelManager(
        sessions=stack.context.sessions,
        store=stack.context.storage.models,
        cache_dir=tmp_path / "cache",
    )
    with pytest.raises(ModelError, match="SHA-256"):
        manager.get("faces")
    assert not list((tmp_path / "cache").glob("*.onnx"))


def test_unknown_model_name(stack: Stack, tmp_path: Path) -> None:
    manager = ModelManager(
        sessions=stack.context.sessions, store=stack.context.storage.models, cache_dir=tmp_path
    )
    with pytest.raises(ModelError, match="no active version"):
        manager.get("nothing-here")


def test_prefetch_downloads_active_artifacts(stack: Stack, tmp_path: Path) -> None:
    row = register(stack, input_size=(320, 320))
    cache = tmp_path / "cache"
    manager = ModelManager(
        sessions=stack.context.sessions, store=stack.context.storage.models, cache_dir=cache
    )
    assert manager.prefetch_active() == 1
    assert (cache / f"{row.artifact_sha256}.onnx").is_file()


def test_a_remote_model_that_does_not_answer_is_refused(stack: Stack) -> None:
    with pytest.raises(Invalid, match="remote model refused"):
        register(
            stack, format="kserve", file=None, url="http://127.0.0.1:9/", options={"timeout_s": 2}
        )
    with stack.context.sessions() as session:
        assert models.list_versions(session, name="faces") == []


def test_manager_loads_a_version_once_and_follows_activation(stack: Stack, tmp_path: Path) -> None:
    """`get(name)` answers the active version's model, `get_by_id` (what a job names) the row's;
    both share one loaded model per row, and a newly activated version is used at once."""
    manager = ModelManager(
        sessions=stack.context.sessions,
        store=stack.context.storage.models,
        cache_dir=tmp_path / "cache",
    )
    first = register(stack, input_size=(320, 320))
    by_name = manager.get("faces")
    assert by_name.spec.version == "1"
    assert manager.get_by_id(first.id) is by_name
    assert manager.get("faces") is by_name

    second = register(stack, input_size=(320, 320))  # active on registration
    newer = manager.get("faces")
    assert newer.spec.version == "2"
    assert newer is manager.get_by_id(second.id)
    assert manager.get_by_id(first.id) is by_name  # a job naming version 1 still gets it
    assert manager.get("faces", "1") is by_name

    with transaction(stack.context.sessions) as session:
        models.activate_version(session, name="faces", version="1")
    assert manager.get("faces") is by_name
    manager.close()
