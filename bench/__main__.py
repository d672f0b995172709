"""Run every benchmark and print one table per area."""

from __future__ import annotations

import argparse

from bench import bench_upload
from bench.report import print_table


def main() -> None:
    parser = argparse.ArgumentParser(description="labelbay benchmarks")
    parser.add_argument("--only", choices=["upload", "inference", "text"], action="append")
    args = parser.parse_args()
    selected = set(args.only or ["upload", "inference", "text"])
    if "upload" in selected:
        print_table(
            bench_upload.run(), "Uploads (embedded: SQLite + local folder, one server process)"
        )


if __name__ == "__main__":
    main()
