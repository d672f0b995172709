"""Writers for the formats labels leave in: COCO, YOLO, CSV, JSON and Label Studio.

`formats.stream_export` walks a project's images page by page (`project.iter_images`) and feeds
one writer (`formats.open_writer`).
"""
