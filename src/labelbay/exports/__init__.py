"""Writers for the formats labels leave in: COCO, YOLO, CSV, JSON and Label Studio.

`project.stream_export` walks a project's images page by page and feeds one writer.
"""
