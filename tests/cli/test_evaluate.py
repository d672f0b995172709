"""`labelbay evaluate GT.json PRED.json` as a user runs it: a real process over files on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.evaluation.cocoref import NAMES, cocoeval_stats
from tests.evaluation.test_coco_equal import generated


def evaluate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelbay.cli", "evaluate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, float]]:
    folder = tmp_path_factory.mktemp("coco")
    gt, dt = generated(200, seed=2)
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "pred.json").write_text(json.dumps(dt))
    return folder / "gt.json", folder / "pred.json", cocoeval_stats(gt, dt)


def test_json_metrics_equal_cocoeval(files: tuple[Path, Path, dict[str, float]]) -> None:
    gt, pred, expected = files
    run = evaluate(str(gt), str(pred), "--json", cwd=gt.parent)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    for name in NAMES:
        assert report[name] == pytest.approx(expected[name], abs=1e-4), name
    assert [c["name"] for c in report["per_class"]] == [f"c{i}" for i in range(5)]
    assert all(len(c["pr_curve"]["precision"]) == 101 for c in report["per_class"])
    assert len(report["confusion"]["matrix"]) == 6


def test_table_shows_the_same_numbers(files: tuple[Path, Path, dict[str, float]]) -> None:
    gt, pred, expected = files
    run = evaluate(str(gt), str(pred), cwd=gt.parent)
    assert run.returncode == 0, run.stderr
    first = run.stdout.splitlines()[3]
    assert first.split()[0] == "mAP@[.50:.95]"
    assert float(first.split()[1]) == pytest.approx(expected["map"], abs=1e-4)
    assert any(line.startswith("c4 ") for line in run.stdout.splitlines())


def test_a_coco_file_with_scores_is_read_as_predictions(
    files: tuple[Path, Path, dict[str, float]], tmp_path: Path
) -> None:
    gt, pred, expected = files
    coco = json.loads(gt.read_text())
    coco["annotations"] = [
        {"id": n + 1, **row, "area": row["bbox"][2] * row["bbox"][3], "iscrowd": 0}
        for n, row in enumerate(json.loads(pred.read_text()))
    ]
    scored = tmp_path / "scored.json"
    scored.write_text(json.dumps(coco))
    run = evaluate(str(gt), str(scored), "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["map"] == pytest.approx(expected["map"], abs=1e-4)


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (
            [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}],
            "every prediction needs a score",
        ),
        (
            [{"image_id": 999, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1}],
            "not in the ground truth",
        ),
        ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5], "score": 1}], "not COCO"),
        ({"nothing": []}, "COCO results list"),
    ],
)
def test_bad_predictions_are_refused_with_a_reason(
    files: tuple[Path, Path, dict[str, float]], tmp_path: Path, predictions: object, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(predictions))
    run = evaluate(str(files[0]), str(bad), cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr
