"""The SAM / MobileSAM adapter on a model pair built in the test with SAM's exact ONNX interface
(tests/support/sam_graphs.py): SAM's preprocessing and click scaling give the exact mask the pair
encodes, and a zip that is not such a pair is refused when it is registered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from labelbay.inference.base import ModelError, ModelSpec
from labelbay.inference.registry import load_model, validate_artifact
from labelbay.inference.sam_onnx import SamOnnxModel
from tests.support import sam_graphs


def load(path: Path) -> SamOnnxModel:
    model = load_model(ModelSpec(name="sam", format="onnx-sam", path=str(path)))
    assert isinstance(model, SamOnnxModel)
    return model


@pytest.mark.parametrize(
    ("size", "grey", "click"),
    [
        ((512, 384), 200, (100.0, 150.0)),  # landscape: padded at the bottom
        ((300, 500), 40, (250.0, 60.0)),  # portrait, dark: padded at the right, radius shrinks
        ((1920, 1080), 128, (1000.0, 600.0)),  # 1080p: scale 1024/1920, rounded new height
    ],
)
def test_the_mask_is_the_one_the_graph_encodes(
    tmp_path: Path, size: tuple[int, int], grey: int, click: tuple[float, float]
) -> None:
    model = load(sam_graphs.write_zip(tmp_path / "sam.zip"))
    width, height = size
    image = np.full((height, width, 3), grey, np.uint8)
    embedding = model.embed(image)
    assert embedding.shape == (1, 256, 64, 64)
    mask = model.segment(embedding, [click], [1], size)
    expected = sam_graphs.expected_mask(grey, size, click)
    assert mask.shape == (height, width)
    assert expected.sum() > 50
    assert np.array_equal(mask, expected)


def test_clicks_run_only_the_decoder(tmp_path: Path) -> None:
    model = load(sam_graphs.write_zip(tmp_path / "sam.zip"))
    image = np.full((384, 512, 3), 90, np.uint8)
    embedding = model.embed(image)
    for x in (50.0, 200.0, 400.0):
        model.segment(embedding, [(x, 100.0)], [1], (512, 384))
    assert model.encoder_runs == 1


def _decoder_without(name: str) -> object:
    model = sam_graphs.decoder()
    kept = [i for i in model.graph.input if i.name != name]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    if name == "orig_im_size":  # still needed by the graph: feed it from a constant instead
        model.graph.node.insert(0, helper.make_node("Constant", [], [name], value=helper.make_tensor(
            "size", TensorProto.FLOAT, [2], [10.0, 10.0])))  # fmt: skip
    return model


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not a zip") and p, "not a zip of the two SAM ONNX files"),
        (lambda p: sam_graphs.write_zip(p, skip="decoder.onnx"), "missing decoder.onnx"),
        (
            lambda p: sam_graphs.write_zip(p, decoder_model=_decoder_without("orig_im_size")),
            "decoder lacks SAM's ONNX inputs/outputs: orig_im_size",
        ),
        (
            lambda p: sam_graphs.write_zip(p, encoder_model=sam_graphs.decoder()),
            "encoder input 'image_embeddings' has shape",
        ),
    ],
    ids=["not-a-zip", "no-decoder", "decoder-interface", "encoder-interface"],
)
def test_a_zip_that_is_not_a_sam_pair_is_refused(
    tmp_path: Path, make: object, message: str
) -> None:
    path = tmp_path / "sam.zip"
    make(path)  # type: ignore[operator]
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        validate_artifact("onnx-sam", path)


def test_a_promptable_model_labels_nothing_alone(tmp_path: Path) -> None:
    model = load(sam_graphs.write_zip(tmp_path / "sam.zip"))
    with pytest.raises(ModelError, match="promptable segmenter"):
        model.predict([np.zeros((8, 8, 3), np.uint8)])
