"""Run every benchmark and print one table per area; `--check` fails on a missed goal."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import (
    bench_assist,
    bench_eval,
    bench_import,
    bench_inference,
    bench_jobs,
    bench_review,
    bench_scale,
    bench_text,
    bench_upload,
)
from bench.report import NOISE_MARGIN, Row, miss, print_table

AREAS: dict[str, tuple[Callable[[], list[Row]], str]] = {
    "upload": (bench_upload.run, "Uploads (embedded: SQLite + local folder, one server process)"),
    "inference": (
        bench_inference.run,
        "Inference (200 JPEGs 1920x1080, nudenet 320n.onnx, YOLOv8 layout)",
    ),
    "text": (bench_text.run, "Text model (PP-OCRv4): raw ONNX Runtime detector vs our pipeline"),
    "jobs": (bench_jobs.run, "Jobs (1,000 JPEGs 640x480, YOLOv8n-320, PostgreSQL + local folder)"),
    "scale": (bench_scale.run, "Scale (PostgreSQL: 100k images, 1M predictions)"),
    "review": (
        bench_review.run,
        "Review queue (PostgreSQL: 100k images, 1M predictions, 10 concurrent reviewers)",
    ),
    "evaluation": (
        bench_eval.run,
        "Evaluation (PostgreSQL: 100k images, 1M predictions, 300k boxes) vs COCOeval",
    ),
    "import": (
        bench_import.run,
        "Label import (PostgreSQL: a 100k-image COCO file, 300k boxes, onto existing images)",
    ),
    "assist": (bench_assist.run, "Assisted masks on a 1920x1080 photo (20 calls each)"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description="labelbay benchmarks")
    parser.add_argument("--only", choices=list(AREAS), action="append")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 when a figure misses its goal by more than {NOISE_MARGIN:.0%} of the goal",
    )
    args = parser.parse_args()
    measured: list[Row] = []
    for area in [a for a in AREAS if a in (args.only or AREAS)]:
        run, title = AREAS[area]
        rows = run()
        print_table(rows, title)
        measured += rows
    missed = [reason for row in measured if (reason := miss(row))]
    goals = sum(1 for row in measured if row.goal)
    print(f"\n{goals - len(missed)} of {goals} goals met (noise margin {NOISE_MARGIN:.0%}).")
    for reason in missed:
        print(f"MISSED {reason}")
    if args.check and missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
