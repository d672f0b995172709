"""Run every benchmark and print one table per area."""

from __future__ import annotations

import argparse

from bench import bench_eval, bench_inference, bench_jobs, bench_scale, bench_text, bench_upload
from bench.report import print_table


def main() -> None:
    parser = argparse.ArgumentParser(description="labelbay benchmarks")
    parser.add_argument(
        "--only",
        choices=["upload", "inference", "text", "jobs", "scale", "evaluation"],
        action="append",
    )
    args = parser.parse_args()
    selected = set(args.only or ["upload", "inference", "text", "jobs", "scale", "evaluation"])
    if "upload" in selected:
        print_table(
            bench_upload.run(), "Uploads (embedded: SQLite + local folder, one server process)"
        )
    if "inference" in selected:
        print_table(
            bench_inference.run(),
            "Inference (200 JPEGs 1920x1080, nudenet 320n.onnx, YOLOv8 layout)",
        )
    if "text" in selected:
        print_table(
            bench_text.run(), "Text model (PP-OCRv4): raw ONNX Runtime detector vs our pipeline"
        )
    if "jobs" in selected:
        print_table(
            bench_jobs.run(), "Jobs (1,000 JPEGs 640x480, YOLOv8n-320, PostgreSQL + local folder)"
        )
    if "scale" in selected:
        print_table(bench_scale.run(), "Scale (PostgreSQL: 100k images, 1M predictions)")
    if "evaluation" in selected:
        print_table(
            bench_eval.run(),
            "Evaluation (PostgreSQL: 100k images, 1M predictions, 300k boxes) vs COCOeval",
        )


if __name__ == "__main__":
    main()
