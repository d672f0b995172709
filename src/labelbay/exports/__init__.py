"""Writers for the formats labels leave in: COCO, JSON, CSV (YOLO and Label Studio come later)."""
