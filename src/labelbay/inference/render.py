"""Draw detections onto an image (boxes, circles, "class score" labels) and encode it as JPEG.

Colours are picked per class id from a fixed palette, so the same class looks the same in every image
of a job. Line width and font scale follow the image size so labels stay legible on 4K and on 320 px.
"""

from __future__ import annotations

import cv2
import numpy as np

from labelbay.inference.base import RGBImage
from labelbay.inference.detections import Detections

# Distinct, saturated RGB colours (Tableau-like); class id picks one modulo the length.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def class_colour(class_id: int) -> tuple[int, int, int]:
    return PALETTE[class_id % len(PALETTE)]


def _label(detections: Detections, i: int) -> str:
    name = detections.name_of(int(detections.class_id[i]))
    text = f"{name} {detections.confidence[i]:.2f}"
    if detections.text is not None and detections.text[i]:
        text += f" '{detections.text[i]}'"
    return text


def draw(image: RGBImage, detections: Detections) -> RGBImage:
    """A copy of `image` (RGB) with every detection drawn: a circle when it has one, else its box."""
    canvas = np.ascontiguousarray(image.copy())
    height, width = canvas.shape[:2]
    thickness = max(1, round(max(width, height) / 500))
    font_scale = max(0.4, max(width, height) / 1600)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(len(detections)):
        colour = class_colour(int(detections.class_id[i]))
        x1, y1, x2, y2 = (round(float(v)) for v in detections.xyxy[i])
        circle = None if detections.circles is None else detections.circles[i]
        if circle is not None and not np.isnan(circle).any():
            cx, cy, r = (round(float(v)) for v in circle)
            cv2.circle(canvas, (cx, cy), r, colour, thickness, cv2.LINE_AA)
        else:
            # Axis-aligned lines gain nothing from anti-aliasing; crisp edges keep the exact colour.
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_8)
        text = _label(detections, i)
        (text_w, text_h), baseline = cv2.getTextSize(text, font, font_scale, thickness)
        # Label above the box when there is room, else inside its top edge.
        top = y1 - text_h - baseline if y1 - text_h - baseline >= 0 else y1
        cv2.rectangle(canvas, (x1, top), (x1 + text_w, top + text_h + baseline), colour, -1)
        cv2.putText(
            canvas,
            text,
            (x1, top + text_h),
            font,
            font_scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
    return canvas


def render_jpeg(image: RGBImage, detections: Detections, quality: int = 90) -> bytes:
    """Draw the detections and encode the result as JPEG bytes."""
    drawn = draw(image, detections)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()
