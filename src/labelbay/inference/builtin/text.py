"""`text`: PP-OCRv4 text detection + recognition, run by our own ONNX Runtime code.

The ONNX files ship inside the `rapidocr-onnxruntime` wheel (installed without its Python
dependencies; only the files are used). Detection is DB (differentiable binarisation): a text
probability map, thresholded into regions, each grown back by the "unclip" offset the model was
trained to expect. Each line is then cropped upright and read by the CRNN recogniser with CTC greedy
decoding; its character table is stored in the recogniser's ONNX metadata.

One detection per text line: the axis-aligned box in original pixels, class "text", the detection
score as confidence, and the recognised string in `Detections.text`.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pyclipper

from labelbay.inference.base import Model, ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.onnx_session import create_session

CLASS_NAMES = ("text",)
DET_FILE, REC_FILE = "ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"
REC_HEIGHT = 48
FloatArray = npt.NDArray[np.float32]


def spec() -> ModelSpec:
    return ModelSpec(
        name="text",
        format="builtin",
        task="detect",
        version="ppocrv4",
        class_names=CLASS_NAMES,
        confidence_threshold=0.6,  # DB region score: mean text probability inside it
        options={
            "det_side": 960,  # the longer side the detector sees
            "bin_threshold": 0.3,
            "unclip_ratio": 1.6,
            "min_text_score": 0.5,  # mean recognition confidence of a kept line
            "recognize": True,
            # Lines per recogniser run. 1 on a CPU, where bench_text measured PP-OCR's batches of 6
            # at 0.4-0.7x of one line per run and batches of similar width at 0.7-1.1x: per line,
            # the element-wise layers cost twice as much in a batch (its activations outgrow the
            # cache) and eat what the convolutions gain. Batches are for a GPU (not measured here).
            "rec_batch": 1,
            "rec_pad": 0.1,  # a batched line is padded by at most this share of its width
        },
    )


def model_files() -> tuple[Path, Path]:
    found = importlib.util.find_spec("rapidocr_onnxruntime")
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            "the text model's ONNX files come from the rapidocr-onnxruntime wheel; install it "
            "with `pip install --no-deps rapidocr-onnxruntime==1.4.4` (make install does)"
        )
    folder = Path(found.submodule_search_locations[0]) / "models"
    return folder / DET_FILE, folder / REC_FILE


class TextModel(Model):
    def __init__(self, model_spec: ModelSpec | None = None) -> None:
        super().__init__(model_spec or spec())
        self.opts: dict[str, Any] = {**spec().options, **self.spec.options}
        threads = int(self.opts.get("intra_op_threads", 1))
        det_path, rec_path = model_files()
        self.det = create_session(det_path, intra_op_threads=threads)
        self.rec = create_session(rec_path, intra_op_threads=threads)
        # CTC classes: 0 is the blank, then the table stored in the model, then the space.
        meta = self.rec.get_modelmeta().custom_metadata_map
        self.characters = ["", *meta.get("character", "").splitlines(), " "]
        classes = self.rec.get_outputs()[0].shape[-1]
        if classes != len(self.characters):
            raise ModelError(
                f"{rec_path.name}: {len(self.characters)} characters in its metadata, "
                f"{classes} output classes"
            )
        # The detector sees `det_side`, but lines are read from the decoded image itself, where
        # small glyphs need their pixels: let the decoder shrink only what is over twice that.
        self.preferred_side = 2 * int(self.opts["det_side"])

    # -- detection --------------------------------------------------------------------------------

    def det_input(self, image: RGBImage) -> tuple[FloatArray, float, float]:
        """The detector's NCHW input for one image and the (x, y) factors back to its pixels."""
        height, width = image.shape[:2]
        scale = float(self.opts["det_side"]) / max(height, width)
        det_h = max(32, round(height * scale / 32) * 32)
        det_w = max(32, round(width * scale / 32) * 32)
        # Resize the uint8 RGB first (a flipped view would be copied whole by cv2), then write
        # each channel into its BGR plane (PaddleOCR trained on cv2's BGR) and scale in place:
        # one pass over the small image instead of several float temporaries.
        resized = cv2.resize(image, (det_w, det_h), interpolation=cv2.INTER_LINEAR)
        tensor = np.empty((1, 3, det_h, det_w), np.float32)
        for plane in range(3):
            tensor[0, plane] = resized[:, :, 2 - plane]
        tensor *= 2 / 255
        tensor -= 1  # (x / 255 - 0.5) / 0.5
        return tensor, width / det_w, height / det_h

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        inputs, meta = [], []
        for image in images:
            tensor, fx, fy = self.det_input(image)
            inputs.append(tensor)
            meta.append({"fx": fx, "fy": fy, "image": image})
        return Prepared(inputs=inputs, meta=meta)

    def forward(self, prepared: Prepared) -> list[FloatArray]:
        name = self.det.get_inputs()[0].name
        return [np.asarray(self.det.run(None, {name: t})[0][0, 0]) for t in prepared.inputs]

    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]:
        results = []
        for prob, meta in zip(outputs, prepared.meta, strict=True):
            quads, scores = self.regions(prob)
            quads = quads * np.array([meta["fx"], meta["fy"]], np.float32)
            texts: list[str] = [""] * len(quads)
            if self.opts["recognize"] and len(quads):
                texts, text_scores = self.read(meta["image"], quads)
                keep = (text_scores >= float(self.opts["min_text_score"])) & (
                    np.array([bool(t.strip()) for t in texts])
                )
                quads, scores = quads[keep], scores[keep]
                texts = [t for t, k in zip(texts, keep, strict=True) if k]
            boxes = np.column_stack([quads.min(axis=1), quads.max(axis=1)]).reshape(-1, 4)
            # Reading order (top to bottom, then left to right); contours come out bottom first.
            order = np.lexsort((boxes[:, 0], boxes[:, 1]))
            found = Detections.create(
                boxes, scores, np.zeros(len(boxes)), class_names=CLASS_NAMES, text=texts
            )
            results.append(found[order])
        return results

    def regions(self, prob: FloatArray) -> tuple[FloatArray, FloatArray]:
        """DB post-processing: text quadrilaterals (N, 4, 2) in detector pixels and their scores."""
        binary = (prob > float(self.opts["bin_threshold"])).astype(np.uint8)
        bitmap = np.asarray(cv2.dilate(binary, np.ones((2, 2), np.uint8)), np.uint8)
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        quads, scores = [], []
        height, width = prob.shape
        for contour in contours[:1000]:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < 3:
                continue
            # Scored on the region itself, not its rectangle: a line bent by the page's curl fills
            # only part of its rectangle, and would score as if it were half background.
            score = _mean_inside(prob, contour.reshape(-1, 2).astype(np.float32))
            if score < self.spec.confidence_threshold:
                continue
            corners = np.asarray(cv2.boxPoints(rect), np.float32)
            grown = _unclip(corners, float(self.opts["unclip_ratio"]))
            if grown is None:
                continue
            rect = cv2.minAreaRect(grown)
            if min(rect[1]) < 5:
                continue
            quad = _order_points(np.asarray(cv2.boxPoints(rect), np.float32))
            quad[:, 0] = np.clip(quad[:, 0], 0, width)
            quad[:, 1] = np.clip(quad[:, 1], 0, height)
            quads.append(quad)
            scores.append(score)
        if not quads:
            return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
        return np.stack(quads).astype(np.float32), np.array(scores, np.float32)

    # -- recognition ------------------------------------------------------------------------------

    def read(self, image: RGBImage, quads: FloatArray) -> tuple[list[str], FloatArray]:
        """Recognise each quadrilateral's line: its text and mean character confidence."""
        lines = [_line_input(image, quad) for quad in quads]
        texts: list[str] = [""] * len(lines)
        scores = np.zeros(len(lines), np.float32)
        name = self.rec.get_inputs()[0].name
        widths = [line.shape[1] for line in lines]
        for group in width_groups(widths, int(self.opts["rec_batch"]), float(self.opts["rec_pad"])):
            batch = np.zeros((len(group), 3, REC_HEIGHT, widths[group[-1]]), np.float32)  # 0 = grey
            for row, index in enumerate(group):
                line = lines[index].transpose(2, 0, 1)[::-1]  # HWC RGB -> CHW BGR, as trained
                batch[row, :, :, : widths[index]] = line * np.float32(2 / 255) - 1
            probs = np.asarray(self.rec.run(None, {name: batch})[0])
            for row, index in enumerate(group):
                texts[index], scores[index] = self._ctc_greedy(probs[row])
        return texts, scores

    def _ctc_greedy(self, probs: FloatArray) -> tuple[str, float]:
        best = probs.argmax(axis=1)
        confidence = probs.max(axis=1)
        keep = best != 0
        keep[1:] &= best[1:] != best[:-1]
        chars = [self.characters[i] for i in best[keep] if i < len(self.characters)]
        return "".join(chars), float(confidence[keep].mean()) if keep.any() else 0.0

    def close(self) -> None:
        del self.det, self.rec


def width_groups(widths: Sequence[int], size: int, pad: float) -> list[list[int]]:
    """Line indices in recogniser batches: at most `size` lines of similar width, narrowest first.

    As PP-OCR does, lines are sorted by width and each batch is padded to its widest line; unlike
    PP-OCR's fixed runs of `size`, a line that would be padded by more than `pad` of its width
    starts a new batch. The recogniser mixes context along the whole line, so padding can change
    what it reads (a space or a bracket at a few per cent of padding, measured on page()).
    """
    groups: list[list[int]] = []
    for index in np.argsort(widths, kind="stable").tolist():
        group = groups[-1] if groups else []
        if 0 < len(group) < size and widths[index] <= widths[group[0]] * (1 + pad):
            group.append(index)
        else:
            groups.append([index])
    return groups


def _mean_inside(prob: FloatArray, polygon: FloatArray) -> float:
    """Mean probability inside a polygon (computed on its bounding patch only)."""
    height, width = prob.shape
    x0, y0 = np.clip(np.floor(polygon.min(axis=0)).astype(int), 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(polygon.max(axis=0)).astype(int), 0, [width - 1, height - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(polygon - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(quad: FloatArray, ratio: float) -> npt.NDArray[np.int64] | None:
    """Grow a region by area * ratio / perimeter, the offset DB's labels were shrunk by."""
    area = cv2.contourArea(quad)
    perimeter = cv2.arcLength(quad, True)
    if perimeter == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad.astype(np.int64).tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * ratio / perimeter)
    if len(grown) != 1:
        return None
    return np.array(grown[0], np.int64).reshape(-1, 1, 2)


def _order_points(quad: FloatArray) -> FloatArray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    by_x = quad[np.argsort(quad[:, 0])]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1])]
    top_right, bottom_right = right[np.argsort(right[:, 1])]
    return np.array([top_left, top_right, bottom_right, bottom_left], np.float32)


def _line_input(image: RGBImage, quad: FloatArray) -> RGBImage:
    """The line inside `quad`, straightened and scaled to the recogniser's height (uint8 RGB).

    The warp itself shrinks a tall line only to twice the target height; INTER_AREA then does the
    rest, which keeps thin strokes that a single large perspective step would alias away, and
    avoids warping a full-resolution crop of a 4K line only to shrink it.
    """
    top = float(np.linalg.norm(quad[0] - quad[1]))
    bottom = float(np.linalg.norm(quad[3] - quad[2]))
    left = float(np.linalg.norm(quad[0] - quad[3]))
    right = float(np.linalg.norm(quad[1] - quad[2]))
    width, height = max(1.0, top, bottom), max(1.0, left, right)
    vertical = height / width >= 1.5  # a vertical line: read it turned
    across = width if vertical else height  # the side that becomes the recogniser's height
    shrink = min(1.0, 2 * REC_HEIGHT / across)
    out_w, out_h = max(1, round(width * shrink)), max(1, round(height * shrink))
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(
        image, matrix, (out_w, out_h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_LINEAR
    )
    if vertical:
        crop = np.ascontiguousarray(np.rot90(crop))
    line_w = max(1, math.ceil(REC_HEIGHT * crop.shape[1] / crop.shape[0]))
    interpolation = cv2.INTER_AREA if crop.shape[0] > REC_HEIGHT else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(crop, (line_w, REC_HEIGHT), interpolation=interpolation))
