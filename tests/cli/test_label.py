"""`labelbay label` as a user runs it: a real process over 200 1080p JPEGs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from skimage import data as samples

from labelbay.exports.csv_json import CSV_COLUMNS

PHOTOS = [
    samples.astronaut(),
    samples.coffee(),
    samples.chelsea(),
    np.stack([samples.coins()] * 3, axis=-1),
    np.stack([samples.camera()] * 3, axis=-1),
]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    (folder / "nested").mkdir()
    for i in range(200):
        rgb = cv2.resize(PHOTOS[i % len(PHOTOS)], (1920, 1080))
        target = folder / ("nested" if i % 2 else ".") / f"img{i:03d}.jpg"
        cv2.imwrite(str(target), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image")
    return folder


def label(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelbay.cli", "label", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_label_writes_coco_that_matches_the_json(photo_folder: Path, tmp_path: Path) -> None:
    coco_file, json_file = tmp_path / "labels.coco.json", tmp_path / "labels.json"
    run = label(str(photo_folder), "--model", "circles", "--out", str(coco_file), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "img/s" in run.stderr  # the progress bar with its rate
    assert "images: 200" in run.stdout
    assert "circle:" in run.stdout
    run = label(
        str(photo_folder), "--model", "circles", "--format", "json", "--out", str(json_file),
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr

    coco = COCO(str(coco_file))
    records = {r["file_name"]: r for r in json.loads(json_file.read_text())}
    assert len(coco.getImgIds()) == 200 == len(records)
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["circle"]
    checked = 0
    for image in coco.loadImgs(coco.getImgIds()):
        assert (image["width"], image["height"]) == (1920, 1080)
        expected = records[image["file_name"]]["objects"]
        got = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        assert len(got) == len(expected)
        for annotation, detection in zip(got, expected, strict=True):
            box = detection["bbox"]
            x, y, w, h = annotation["bbox"]
            assert (x, y) == pytest.approx((box["x1"], box["y1"]), abs=0.02)
            assert (x + w, y + h) == pytest.approx((box["x2"], box["y2"]), abs=0.02)
            assert annotation["score"] == pytest.approx(detection["score"], abs=1e-3)
            assert detection["kind"] == "circle"
            assert detection["source"] == "prediction"
            checked += 1
    assert checked > 200, "the coins alone give 24 circles each"
    assert any(name.startswith("nested/") for name in records), "file names are relative"


def test_csv_and_render(photo_folder: Path, tmp_path: Path) -> None:
    out, rendered = tmp_path / "labels.csv", tmp_path / "rendered"
    run = label(
        str(photo_folder / "img000.jpg"), str(photo_folder / "nested" / "img003.jpg"),
        "--model", "circles", "--format", "csv", "--out", str(out), "--render", str(rendered),
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    header, *rows = out.read_text().splitlines()
    assert tuple(header.split(",")) == CSV_COLUMNS  # the API's CSV export, column for column
    assert rows
    assert all(row.split(",")[5:7] == ["circle", "circle"] for row in rows)
    drawn = list(rendered.rglob("*.jpg"))
    assert drawn
    assert cv2.imread(str(drawn[0])).shape == (1080, 1920, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/folder"], "error: no such file or folder: /no/such/folder\n"),
        (["--model", "nope"], "error: model nope: no active version\n"),
        (["--format", "xml"], "--format"),
    ],
)
def test_bad_invocations(photo_folder: Path, tmp_path: Path, args: list[str], message: str) -> None:
    full = args if args[0].startswith("/") else [str(photo_folder / "img000.jpg"), *args]
    run = label(*full, cwd=tmp_path)
    assert run.returncode != 0
    assert message in (run.stderr + run.stdout)
    assert "Traceback" not in run.stderr, run.stderr
