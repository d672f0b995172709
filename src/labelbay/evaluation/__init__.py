"""Model evaluation: COCO bbox metrics equal to pycocotools', precision/recall/F1, PR curves,
confusion matrices and per-image TP/FP/FN for detectors; accuracy and confusion for classifiers.

Pure numpy over whole arrays (`boxes.BoxSet`); where the boxes come from (a COCO file, a project's
rows) is the caller's business.
"""

from labelbay.evaluation.boxes import BoxSet
from labelbay.evaluation.classification import evaluate_classification
from labelbay.evaluation.detection import DetectionReport, evaluate_detections

__all__ = ["BoxSet", "DetectionReport", "evaluate_classification", "evaluate_detections"]
