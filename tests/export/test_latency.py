"""The int8 ceiling of this CPU: one float32 Conv against the same QLinearConv, at tiny sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

from scenecolor.core.errors import ParameterError
from scenecolor.export.latency import ConvShape, Int8Ceiling, conv_models, heavy_convs, int8_conv_ceiling
from scenecolor.workbook.export.compare import INT8_CEILING_SHARE, int8_against_ceiling


def test_conv_models_compute_the_same_convolution_in_float32_and_int8():
    shape = ConvShape(batch=2, cin=5, height=11, width=9, cout=3, kernel=3, stride=2)
    fp32, int8, x, xq = conv_models(shape)
    assert x.shape == xq.shape == (2, 5, 11, 9) and xq.dtype == np.uint8
    y32 = ort.InferenceSession(fp32).run(None, {"x": x})[0]
    assert y32.shape == (2, 3, 5, 4)
    # the float32 model is a plain convolution: one output value by hand
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(fp32).graph.initializer}
    by_hand = float((x[1, :, 2:5, 4:7] * weights["w"][2]).sum() + weights["b"][2])
    assert y32[1, 2, 1, 2] == pytest.approx(by_hand, abs=1e-5)
    y8 = ort.InferenceSession(int8).run(None, {"x": xq})[0]
    assert y8.dtype == np.uint8 and y8.shape == y32.shape
    # 7-bit weights: no 16-bit overflow, so ONNX Runtime's int8 output is the integer convolution rounded once
    _, exact, _, _ = conv_models(shape, reduce_range=True)
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(exact).graph.initializer}
    got = ort.InferenceSession(exact).run(None, {"x": xq})[0].astype(np.float64)
    acc = np.zeros(y32.shape)
    for i in range(3):
        for j in range(3):
            patch = xq[:, :, i : i + 9 : 2, j : j + 7 : 2].astype(np.float64)
            acc += np.einsum("nchw,oc->nohw", patch, init["w"][:, :, i, j].astype(np.float64))
    acc += init["b"][None, :, None, None]
    want = np.clip(np.round(acc * (init["xs"] * init["ws"])[None, :, None, None] / init["ys"]) + init["yz"], 0, 255)
    assert np.abs(got - want).max() <= 1
    steps = np.abs((got - float(init["yz"])) * float(init["ys"]) - y32) / float(init["ys"])
    assert steps.mean() < 1.5  # 8-bit rounding of inputs, weights and output


def test_ceiling_pools_the_shapes_by_their_count():
    shapes = [ConvShape(1, 4, 10, 12, 6, 3), ConvShape(1, 8, 9, 9, 4, 1, count=3)]
    ceiling = int8_conv_ceiling(shapes, warmup=0, repeats=2)
    assert [r["convolution"] for r in ceiling.rows] == [s.label for s in shapes]
    fp32 = sum(s.count * r["fp32 ms"] for s, r in zip(shapes, ceiling.rows))
    int8 = sum(s.count * r["int8 ms"] for s, r in zip(shapes, ceiling.rows))
    assert ceiling.ratio == pytest.approx(fp32 / int8)
    assert all(
        r["fp32 ms"] > 0 and r["int8 ms"] > 0 and r["mean |int8 - fp32| (output steps)"] < 2 for r in ceiling.rows
    )


@pytest.mark.parametrize(
    "shapes, message",
    [([], "at least one convolution"), ([ConvShape(1, 4, 2, 8, 4, 3)], "smaller than its kernel")],
)
def test_bad_ceiling_inputs_raise(shapes, message):
    with pytest.raises(ParameterError, match=message):
        int8_conv_ceiling(shapes, warmup=0, repeats=1)


def _two_conv_graph(path: Path) -> Path:
    """x (1,4,16,16) -> Conv 4->8 3x3 (padded) -> Conv 8->8 3x3 (padded) -> Conv 8->8 3x3 stride 2 (16 -> 7)."""
    rng = np.random.default_rng(0)

    def w(o, i):
        return numpy_helper.from_array(rng.standard_normal((o, i, 3, 3)).astype(np.float32))

    inits = [w(8, 4), w(8, 8), w(8, 8)]
    for t, name in zip(inits, ("w0", "w1", "w2")):
        t.name = name
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "w1"], ["b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["b", "w2"], ["y"], kernel_shape=[3, 3], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def test_heavy_convs_reads_shapes_strides_and_counts_from_the_profile(tmp_path):
    path = _two_conv_graph(tmp_path / "g.onnx")
    shapes = heavy_convs(path, [np.ones((1, 4, 16, 16), np.float32)], top=5)
    got = {(s.cin, s.cout, s.stride, s.height): s.count for s in shapes}
    # padding is an attribute of these Convs, so every input is 16x16; the last one's stride is read back
    assert set(got) == {(4, 8, 1, 16), (8, 8, 1, 16), (8, 8, 2, 16)}
    assert all(n == 1 for n in got.values())
    assert heavy_convs(path, [np.ones((1, 4, 16, 16), np.float32)], top=1)[0] in shapes


def test_int8_against_ceiling_is_a_computed_target():
    table = pd.DataFrame(
        {"runtime": ["ONNX Runtime fp32", "int8"], "ms / frame": [120.0, 100.0]},
    )
    frame, numbers = int8_against_ceiling(table, "int8", Int8Ceiling([], 2.0))
    assert numbers["ratio"] == pytest.approx(1.2) and numbers["share"] == pytest.approx(0.6)
    assert numbers["met"] is False and frame["value"].iloc[-1] == "not met"
    _, numbers = int8_against_ceiling(table, "int8", Int8Ceiling([], 1.2 / INT8_CEILING_SHARE))
    assert numbers["met"] is True
