"""The one result type every model adapter returns, and its conversions.

Parallel numpy arrays, one row per detection; indexing with a boolean mask or an index array returns a
new `Detections`. Boxes are always xyxy in pixels of the original image. Instance masks, where a
model makes them, are COCO RLE (`MaskGeometry`) each of its own size: `to_labels` fits them to
the image (a mask of a reduced decode is scaled up there), so `scaled` leaves them as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from labelbay import labels as lb
from labelbay.labels import (
    BoxGeometry,
    CircleGeometry,
    Label,
    MaskGeometry,
    Source,
    TextGeometry,
)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class ClassScore(NamedTuple):
    """One class of a classifier's top-k list (`Detections.extra["top_k"]`, best first)."""

    class_id: int
    class_name: str
    score: float


@dataclass(frozen=True)
class Detections:
    """Detections of one image: boxes xyxy, scores, class ids, and optional extras per row."""

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    class_names: tuple[str, ...] = ()
    circles: FloatArray | None = None  # (N, 3): cx, cy, r
    text: tuple[str, ...] | None = None
    masks: tuple[MaskGeometry | None, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        if self.confidence.shape != (n,):
            raise ValueError(f"confidence must have shape ({n},), got {self.confidence.shape}")
        if self.class_id.shape != (n,):
            raise ValueError(f"class_id must have shape ({n},), got {self.class_id.shape}")
        if self.circles is not None and self.circles.shape != (n, 3):
            raise ValueError(f"circles must have shape ({n}, 3), got {self.circles.shape}")
        if self.text is not None and len(self.text) != n:
            raise ValueError(f"text must have {n} entries, got {len(self.text)}")
        if self.masks is not None and len(self.masks) != n:
            raise ValueError(f"masks must have {n} entries, got {len(self.masks)}")

    @classmethod
    def create(
        cls,
        xyxy: npt.ArrayLike,
        confidence: npt.ArrayLike,
        class_id: npt.ArrayLike,
        *,
        class_names: Sequence[str] = (),
        circles: npt.ArrayLike | None = None,
        text: Sequence[str] | None = None,
        masks: Sequence[MaskGeometry | None] | None = None,
    ) -> Detections:
        """Build from array-likes, coercing dtypes and shapes."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        return cls(
            xyxy=boxes,
            confidence=np.asarray(confidence, dtype=np.float32).reshape(-1),
            class_id=np.asarray(class_id, dtype=np.int64).reshape(-1),
            class_names=tuple(class_names),
            circles=None if circles is None else np.asarray(circles, np.float32).reshape(-1, 3),
            text=None if text is None else tuple(text),
            masks=None if masks is None else tuple(masks),
        )

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> Detections:
        return cls.create(np.zeros((0, 4)), [], [], class_names=class_names)

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate detections of one image; class names must agree (or be empty)."""
        if not parts:
            return cls.empty()
        names = next((p.class_names for p in parts if p.class_names), ())
        for part in parts:
            if part.class_names and part.class_names != names:
                raise ValueError("cannot merge detections with different class names")
        with_circles = any(p.circles is not None for p in parts)
        with_text = any(p.text is not None for p in parts)
        circles = (
            np.concatenate(
                [p.circles if p.circles is not None else _nan_circles(len(p)) for p in parts]
            )
            if with_circles
            else None
        )
        text = (
            tuple(t for p in parts for t in (p.text if p.text is not None else ("",) * len(p)))
            if with_text
            else None
        )
        masks = (
            tuple(m for p in parts for m in (p.masks if p.masks is not None else (None,) * len(p)))
            if any(p.masks is not None for p in parts)
            else None
        )
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]).astype(np.float32),
            confidence=np.concatenate([p.confidence for p in parts]).astype(np.float32),
            class_id=np.concatenate([p.class_id for p in parts]).astype(np.int64),
            class_names=names,
            circles=circles,
            text=text,
            masks=masks,
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(
        self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer[Any]] | slice
    ) -> Detections:
        rows = np.arange(len(self))[index]
        return Detections(
            xyxy=self.xyxy[rows],
            confidence=self.confidence[rows],
            class_id=self.class_id[rows],
            class_names=self.class_names,
            circles=None if self.circles is None else self.circles[rows],
            text=None if self.text is None else tuple(self.text[i] for i in rows),
            masks=None if self.masks is None else tuple(self.masks[i] for i in rows),
            extra=self.extra,
        )

    def __iter__(self) -> Iterator[Detections]:
        for i in range(len(self)):
            yield self[np.array([i])]

    def scaled(self, factor: float) -> Detections:
        """The same detections with coordinates multiplied by `factor` (e.g. back to the original
        image after a reduced-size decode)."""
        if factor == 1.0:
            return self
        return Detections(
            xyxy=(self.xyxy * factor).astype(np.float32),
            confidence=self.confidence,
            class_id=self.class_id,
            class_names=self.class_names,
            circles=None if self.circles is None else (self.circles * factor).astype(np.float32),
            text=self.text,
            masks=self.masks,
            extra=self.extra,
        )

    def name_of(self, class_id: int) -> str:
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return str(class_id)

    @property
    def area(self) -> FloatArray:
        wh: FloatArray = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        area: FloatArray = (wh[:, 0] * wh[:, 1]).astype(np.float32)
        return area

    def to_labels(
        self,
        *,
        width: float,
        height: float,
        source: Source | None = None,
        classify: bool = False,
    ) -> list[Label]:
        """One label per row, fitted to the image (boxes clipped, rows left with nothing inside
        dropped): a mask where the row has one (scaled to the image), a circle where it has one,
        a text line where the model reads text, a
        classification where the model classifies (`classify`, or a top-k list in `extra`; the
        list goes on the best row)."""
        top_k = self.extra.get("top_k")
        labels: list[Label] = []
        for i in range(len(self)):
            class_id = int(self.class_id[i])
            fields: dict[str, Any] = {
                "label": self.name_of(class_id),
                "class_id": class_id,
                "score": round(min(max(float(self.confidence[i]), 0.0), 1.0), 4),
                "source": source,
            }
            x1, y1, x2, y2 = (round(float(v), 2) for v in self.xyxy[i])
            box = {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
            if classify or top_k is not None:
                scores = None
                if i == 0 and top_k is not None:  # rows are best first
                    scores = [
                        lb.ClassScore(label=c.class_name, score=round(c.score, 4)) for c in top_k
                    ]
                label = Label(kind="classification", top_k=scores, **fields)
            elif self.masks is not None and self.masks[i] is not None:
                label = Label(kind="mask", geometry=self.masks[i], **fields)
            elif self.circles is not None and not np.isnan(self.circles[i]).any():
                cx, cy, r = (round(float(v), 2) for v in self.circles[i])
                label = Label(kind="circle", geometry=CircleGeometry(cx=cx, cy=cy, r=r), **fields)
            elif self.text is not None:
                geometry = TextGeometry(**box) if x2 > x1 and y2 > y1 else None
                if geometry is None:
                    continue
                label = Label(kind="text", geometry=geometry, text=self.text[i], **fields)
            elif x2 > x1 and y2 > y1:
                label = Label(kind="box", geometry=BoxGeometry(**box), **fields)
            else:
                continue
            fitted = label.fitted(width, height)
            if fitted is not None:
                labels.append(fitted)
        return labels

    @classmethod
    def from_labels(
        cls,
        labels: Sequence[Label],
        *,
        class_names: Sequence[str] = (),
        width: float = 0.0,
        height: float = 0.0,
    ) -> Detections:
        """Labels as detections (e.g. to draw them): boxes around each geometry, a
        classification covering the whole `width` x `height` image, circles, text and masks
        kept."""
        names = list(class_names)
        rows, scores, ids, circles, texts = [], [], [], [], []
        top_k: list[lb.ClassScore] | None = None
        for label in labels:
            if label.label not in names:
                names.append(label.label)
            rows.append(label.box or (0.0, 0.0, float(width), float(height)))
            scores.append(1.0 if label.score is None else label.score)
            ids.append(label.class_id if label.class_id is not None else names.index(label.label))
            g = label.geometry
            circles.append((g.cx, g.cy, g.r) if isinstance(g, CircleGeometry) else (np.nan,) * 3)
            texts.append(label.text or "")
            top_k = top_k or label.top_k
        found = cls.create(
            np.asarray(rows, np.float32).reshape(-1, 4),
            scores,
            ids,
            class_names=names,
            circles=circles
            if any(isinstance(x.geometry, CircleGeometry) for x in labels)
            else None,
            text=texts if any(x.text is not None for x in labels) else None,
            masks=[x.geometry if isinstance(x.geometry, MaskGeometry) else None for x in labels]
            if any(isinstance(x.geometry, MaskGeometry) for x in labels)
            else None,
        )
        if top_k is not None:
            found.extra["top_k"] = [
                ClassScore(names.index(c.label) if c.label in names else -1, c.label, c.score)
                for c in top_k
            ]
        return found


def _nan_circles(n: int) -> FloatArray:
    return np.full((n, 3), np.nan, dtype=np.float32)
