"""`labelbay remote` as a user runs it: real processes against a live uvicorn with an API key.
Upload a folder, import COCO labels onto it, run a built-in model to the end, export COCO and read
it with pycocotools; a wrong key and a server that is down end with a clear error and exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from labelbay.client import Client
from tests.client.helpers import PHOTOS, make_remote, photo_folder
from tests.support.stack import LiveServer, free_port

pytestmark = [pytest.mark.parametrize("stack_urls", ["embedded"], indirect=True), pytest.mark.slow]

# People's boxes per file name, as COCO [x, y, w, h].
BOXES = {
    "coins.png": [[10.5, 20.25, 40, 30], [100, 100, 50.5, 60]],
    "chelsea.jpg": [[50, 60, 120, 100]],
    "coffee.jpg": [[0, 0, 300, 200]],
}


def coco_file(folder: Path, target: Path) -> Path:
    images, annotations = [], []
    for image_id, (name, boxes) in enumerate(BOXES.items(), start=1):
        path = next(folder.rglob(name))
        with Image.open(path) as opened:
            width, height = opened.size
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for box in boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": 1, "name": "thing", "supercategory": ""}]
    target.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return target


def test_upload_import_run_and_export_through_the_command_line(
    live_server: LiveServer, tmp_path: Path
) -> None:
    remote = make_remote(live_server)
    project = remote.live.stack.project(remote.headers, name="coins", labels=["thing"])
    folder = photo_folder(tmp_path)
    # An earlier run that was cut off after one file: the command sends only the others.
    with Client(remote.url, remote.key) as client:
        client.upload_images(project["id"], [folder / "coins.png"])

    run = remote.run("upload", str(folder), "--project", "coins", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "skipped notes.txt: not an image" in run.stderr
    assert "uploaded 2, already there 1" in run.stdout
    assert "B/s" in run.stderr  # the progress bar, in bytes
    run = remote.run("upload", str(folder), "--project", str(project["id"]), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "uploaded 0, already there 3" in run.stdout
    listed = remote.get(f"/api/v1/projects/{project['id']}/images")["images"]
    assert sorted(i["original_filename"] for i in listed) == sorted(PHOTOS)

    labels = coco_file(folder, tmp_path / "people.json")
    run = remote.run("import", str(labels), "-p", "coins", "--format", "coco", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "3 of 3 images matched; 4 annotations added, 0 unchanged, 0 problems" in run.stdout
    run = remote.run("import", str(labels), "-p", "coins", "--format", "coco", cwd=tmp_path)
    assert "4 annotations added" not in run.stdout
    assert "0 annotations added, 4 unchanged" in run.stdout

    run = remote.run("jobs", "run", "-p", "coins", "--model", "circles", "--follow", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "completed: 3 done, 0 failed of 3" in run.stdout
    assert "img" in run.stderr  # the progress bar
    by_name = {image["original_filename"]: image["id"] for image in listed}
    found = {
        name: remote.get(f"/api/v1/images/{image_id}/predictions")[0]["labels"]
        for name, image_id in by_name.items()
    }
    assert found["coins.png"], "the circles model finds the coins"

    run = remote.run(
        "export", "-p", "coins", "--source", "predictions", "--model", "circles",
        "--out", str(tmp_path / "predicted.json"), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    predicted = COCO(str(tmp_path / "predicted.json"))
    for image in predicted.loadImgs(predicted.getImgIds()):
        assert len(predicted.getAnnIds(imgIds=image["id"])) == len(found[image["file_name"]])

    out = tmp_path / "exports"
    out.mkdir()
    run = remote.run("export", "-p", "coins", "--source", "annotations", "-o", str(out), cwd=out)
    assert run.returncode == 0, run.stderr
    (written,) = out.iterdir()  # the server's file name; no `.part` file left
    assert written.name == f"project-{project['id']}-annotations-coco.json"
    people = COCO(str(written))
    for image in people.loadImgs(people.getImgIds()):
        boxes = [a["bbox"] for a in people.loadAnns(people.getAnnIds(imgIds=image["id"]))]
        want = sorted(BOXES[image["file_name"]])
        assert np.asarray(sorted(boxes)) == pytest.approx(np.asarray(want), abs=1e-6)
    assert [c["name"] for c in people.loadCats(people.getCatIds())] == ["thing"]

    for text in (run.stdout, run.stderr):
        assert remote.key not in text


def test_wrong_key_and_server_down_end_with_a_clear_error(
    live_server: LiveServer, tmp_path: Path
) -> None:
    remote = make_remote(live_server)
    wrong = remote.key[:-4] + "abcd"
    run = remote.run("projects", key=wrong, cwd=tmp_path)
    assert run.returncode == 1
    assert "error: GET /api/v1/projects: 401" in run.stderr
    assert "LABELBAY_API_KEY" in run.stderr
    assert wrong not in run.stdout + run.stderr

    down = f"http://127.0.0.1:{free_port()}"
    run = remote.run("projects", url=down, cwd=tmp_path)
    assert run.returncode == 1
    assert f"error: could not reach the server at {down}: cannot connect" in run.stderr
    assert "Traceback" not in run.stderr

    run = remote.run("jobs", "run", "-p", "nope", "--model", "circles", cwd=tmp_path)
    assert run.returncode == 1
    assert "no project named 'nope'" in run.stderr


PEAK_OF_UPLOAD = """
import sys
from labelbay.cli import app
sys.argv = ["labelbay", "remote", *sys.argv[1:]]
try:
    app()
except SystemExit as end:
    code = end.code
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print("peak_kib", int(peak.split()[1]), file=sys.stderr)
sys.exit(code)
"""


def test_an_upload_streams_its_files(live_server: LiveServer, tmp_path: Path) -> None:
    """150 MiB of files go out with the command's peak memory below that of one file on top of
    its own ~50 MiB: files are hashed and sent in chunks, never read whole. (They are noise named
    .jpg: the server receives every byte, then refuses them by content, and the command says so
    with exit code 1.)"""
    remote = make_remote(live_server)
    live_server.stack.project(remote.headers, name="big")
    folder = tmp_path / "big"
    folder.mkdir()
    size = 50 * 1024 * 1024 - 4096  # under the server's default per-file limit
    for i in range(3):
        with (folder / f"noise{i}.jpg").open("wb") as handle:
            for _ in range(size // (1 << 20)):
                handle.write(os.urandom(1 << 20))
    run = subprocess.run(
        [sys.executable, "-c", PEAK_OF_UPLOAD, "upload", str(folder), "-p", "big"],
        env=remote.env(), cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "uploaded 0, already there 0, duplicates 0, refused 3" in run.stdout
    assert "refused noise0.jpg: not a JPEG, PNG or WebP image" in run.stderr
    peak_mib = int(run.stderr.split("peak_kib")[-1]) / 1024
    assert peak_mib < 80, f"peak {peak_mib:.0f} MiB while sending 3 x 50 MiB"
