"""An evaluation report (its JSON form) as a plain-text table: what `labelbay evaluate` prints.

The same JSON the API stores goes in, so the CLI and the API show the same numbers.
"""

from __future__ import annotations

from typing import Any

SUMMARY_ROWS = (
    ("mAP@[.50:.95]", "map"),
    ("AP50", "ap50"),
    ("AP75", "ap75"),
    ("AP small", "ap_small"),
    ("AP medium", "ap_medium"),
    ("AP large", "ap_large"),
    ("AR@1", "ar1"),
    ("AR@10", "ar10"),
    ("AR@100", "ar100"),
    ("AR small", "ar_small"),
    ("AR medium", "ar_medium"),
    ("AR large", "ar_large"),
)


def _number(value: float) -> str:
    return "-" if value < 0 else f"{value:.4f}"


def format_report(report: dict[str, Any]) -> str:
    if report["kind"] == "classification":
        return _classification(report)
    present = report["present"]
    lines = [
        f"images: {report['images']}, IoU threshold {report['iou_threshold']:g}, "
        f"score threshold {report['score_threshold']:g}",
        "",
        f"{'metric':<16}{'all classes':>12}{'classes present':>17}",
    ]
    lines += [
        f"{name:<16}{_number(report[key]):>12}{_number(present[key]):>17}"
        for name, key in SUMMARY_ROWS
    ]
    at, best = report["at_threshold"], report["best_f1"]
    lines += [
        "",
        f"at score >= {report['score_threshold']:g}: precision {at['precision']:.4f}, "
        f"recall {at['recall']:.4f}, F1 {at['f1']:.4f} (TP {at['tp']}, FP {at['fp']}, FN {at['fn']})",
        f"best F1 {best['f1']:.4f} at score >= {best['threshold']:g}: precision "
        f"{best['precision']:.4f}, recall {best['recall']:.4f}",
        "",
        f"{'class':<20}{'gt':>8}{'pred':>8}{'AP':>8}{'AP50':>8}{'AP75':>8}{'AR100':>8}"
        f"{'P':>8}{'R':>8}{'F1':>8}",
    ]
    for row in report["per_class"]:
        at = row["at_threshold"]
        lines.append(
            f"{row['name'][:19]:<20}{row['ground_truth']:>8}{row['predictions']:>8}"
            + "".join(f"{_number(row[key]):>8}" for key in ("ap", "ap50", "ap75", "ar100"))
            + "".join(f"{at[key]:>8.4f}" for key in ("precision", "recall", "f1"))
        )
    lines += [
        "",
        "means over all classes with ground truth, as COCOeval; classes present: those "
        "the model also predicted",
    ]
    return "\n".join(lines)


def _classification(report: dict[str, Any]) -> str:
    lines = [
        f"images: {report['images']}",
        f"accuracy {report['accuracy']:.4f}, top-5 accuracy {report['top5_accuracy']:.4f}",
        "",
        f"{'class':<20}{'gt':>8}{'pred':>8}{'P':>8}{'R':>8}{'F1':>8}",
    ]
    for row in report["per_class"]:
        lines.append(
            f"{row['name'][:19]:<20}{row['ground_truth']:>8}{row['predictions']:>8}"
            + "".join(f"{row[key]:>8.4f}" for key in ("precision", "recall", "f1"))
        )
    return "\n".join(lines)
