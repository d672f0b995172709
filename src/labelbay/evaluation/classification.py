"""A classifier's report: accuracy, top-5 accuracy, per-class precision and recall, confusion.

One row per image that has a ground-truth class: the true class index, and the model's classes
best first (its `top_k`, -1 where it gave fewer or nothing). An image the model did not classify
counts as wrong, in the confusion matrix's last column ("none").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelbay.evaluation.boxes import Ints


def evaluate_classification(truth: Ints, ranked: Ints, *, classes: list[str]) -> dict[str, Any]:
    k = len(classes)
    n = len(truth)
    ranked = ranked.reshape(n, -1) if n else np.zeros((0, 1), np.int64)
    top1 = ranked[:, 0] if ranked.shape[1] else np.full(n, -1)
    correct = top1 == truth
    top5 = (ranked[:, :5] == truth[:, None]).any(axis=1) if n else np.zeros(0, bool)
    none = k
    predicted = np.where((top1 >= 0) & (top1 < k), top1, none)
    size = k + 1
    confusion = np.bincount(truth * size + predicted, minlength=k * size).reshape(k, size)
    per_class = []
    for c, name in enumerate(classes):
        tp = int(confusion[c, c])
        n_true = int(confusion[c].sum())
        n_predicted = int(confusion[:, c].sum())
        precision = tp / n_predicted if n_predicted else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            {
                "name": name,
                "ground_truth": n_true,
                "predictions": n_predicted,
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
    return {
        "kind": "classification",
        "images": n,
        "accuracy": float(correct.mean()) if n else 0.0,
        "top5_accuracy": float(top5.mean()) if n else 0.0,
        "per_class": per_class,
        "confusion": {
            "labels": list(classes),
            "columns_labels": [*classes, "none"],
            "rows": "ground truth",
            "columns": "prediction",
            "matrix": confusion.tolist(),
        },
    }
