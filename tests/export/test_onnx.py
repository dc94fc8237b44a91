"""scenecolor.export.onnx / export_bench / export_tensorrt on small stand-in modules."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from scenecolor.core.errors import ExportError, ParameterError
from scenecolor.export import latency as export_bench
from scenecolor.export import onnx as export
from scenecolor.export import tensorrt as export_tensorrt


class TinyRefNet(nn.Module):
    """Stand-in with the colorizer's interface: gray clip [B,1,T,H,W] + references [B,R,3,H,W] -> ab [B,2,T,H,W]."""

    def __init__(self) -> None:
        super().__init__()
        self.frame = nn.Conv3d(1, 8, 3, padding=1, padding_mode="replicate")
        self.ref = nn.Conv2d(3, 8, 3, stride=2, padding=1, padding_mode="replicate")
        self.bn = nn.BatchNorm3d(8)
        self.head = nn.Conv3d(8, 2, 3, padding=1)

    def forward(self, gray: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        b, r = refs.shape[0], refs.shape[1]
        f = F.elu(self.bn(self.frame(gray)))
        k = F.elu(self.ref(refs.flatten(0, 1)))
        k = F.interpolate(k, size=f.shape[-2:], mode="bilinear", align_corners=False)
        k = k.reshape(b, r, 8, -1).permute(0, 2, 1, 3).flatten(2)  # B, C, R*h*w
        q = f.flatten(2).transpose(1, 2)  # B, T*h*w, C
        att = torch.softmax(q @ k / 8**0.5, dim=-1) @ k.transpose(1, 2)
        f = f + att.transpose(1, 2).reshape(f.shape)
        return torch.tanh(self.head(f))


AXES = {"gray": {0: "B", 2: "T"}, "refs": {0: "B", 1: "R"}}


def _inputs(b: int = 1, t: int = 2, r: int = 2, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, t, size, size, generator=g), torch.rand(b, r, 3, size, size, generator=g)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyRefNet, export.OnnxExport]:
    torch.manual_seed(0)
    model = TinyRefNet().eval()
    with torch.no_grad():  # non-trivial BN statistics, so eval-mode folding is exercised
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    result = export.export_onnx(
        model, _inputs(), path, input_names=["gray", "refs"], output_names=["ab"], dynamic_axes=AXES
    )
    return model, result


def test_export_writes_checked_file_with_dynamic_axes(tiny: tuple[TinyRefNet, export.OnnxExport]) -> None:
    model, result = tiny
    assert result.path.is_file() and result.size_bytes > 1000
    assert result.n_params == sum(p.numel() for p in model.parameters())
    export.check_onnx(result.path)
    session = export.ort_session(result.path)
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert isinstance(shapes["gray"][0], str) and isinstance(shapes["gray"][2], str)
    assert isinstance(shapes["refs"][1], str) and shapes["refs"][2] == 3


@pytest.mark.parametrize("b,t,r", [(1, 2, 2), (2, 3, 5), (3, 1, 1)])
def test_parity_on_other_batch_clip_length_and_reference_count(tiny, b: int, t: int, r: int) -> None:
    model, result = tiny
    session = export.ort_session(result.path)
    report = export.check_parity(model, session, _inputs(b, t, r, seed=b + t + r), atol=1e-5, name="ab")
    assert report.shape == (b, 2, t, 16, 16)
    assert report.passed and report.max_abs_err < 1e-5


def test_export_is_byte_identical_for_same_weights(tiny, tmp_path: Path) -> None:
    model, result = tiny
    again = export.export_onnx(
        model, _inputs(), tmp_path / "again.onnx", input_names=["gray", "refs"], output_names=["ab"], dynamic_axes=AXES
    )
    assert again.path.read_bytes() == result.path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["again.onnx"]  # weights inside, no external .data file


def test_torchscript_exporter_also_matches(tiny, tmp_path: Path) -> None:
    model, _ = tiny
    res = export.export_onnx(
        model,
        _inputs(),
        tmp_path / "ts.onnx",
        input_names=["gray", "refs"],
        output_names=["ab"],
        dynamic_axes=AXES,
        exporter="torchscript",
    )
    rep = export.check_parity(model, export.ort_session(res.path), _inputs(2, 3, 4), atol=1e-5)
    assert rep.passed


def test_parity_failure_names_the_error(tiny) -> None:
    model, result = tiny
    session = export.ort_session(result.path)
    other = TinyRefNet().eval()  # different weights: must not pass
    with pytest.raises(ExportError, match=r"parity 'ab'.*differs from torch by up to"):
        export.check_parity(other, session, _inputs(), atol=1e-4, name="ab")
    report = export.check_parity(other, session, _inputs(), atol=1e-4, name="ab", strict=False)
    assert not report.passed and report.max_abs_err > 1e-4


def test_static_int8_loads_runs_and_is_smaller(tiny, tmp_path: Path) -> None:
    model, result = tiny
    calib = [_inputs(1, 2, 2, seed=s) for s in range(4)]
    q = export.quantize_int8(result.path, tmp_path / "tiny.int8.onnx", mode="static", calibration=calib)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.int8.onnx"]  # no temporary files left behind
    session = export.ort_session(q)
    ops = {n.op_type for n in __import__("onnx").load(str(q)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    x = _inputs(2, 3, 4, seed=9)
    rep = export.check_parity(model, session, x, atol=1.0, name="int8")
    assert rep.shape == (2, 2, 3, 16, 16)
    with torch.no_grad():
        want = model(*x).numpy().ravel()
    got = export.run_session(session, x)[0].ravel()
    assert (
        np.corrcoef(want, got)[0, 1] > 0.7
    )  # int8 keeps the signal (random weights, 4 calibration inputs: no tighter bound)
    assert export.file_size_mb(q) > 0


def test_dynamic_int8_loads_and_runs(tiny, tmp_path: Path) -> None:
    model, result = tiny
    q = export.quantize_int8(result.path, tmp_path / "tiny.dyn.onnx", mode="dynamic")
    out = export.run_session(export.ort_session(q), _inputs(1, 2, 3))[0]
    assert out.shape == (1, 2, 2, 16, 16) and np.isfinite(out).all()


def test_static_int8_without_calibration_is_refused(tiny, tmp_path: Path) -> None:
    _, result = tiny
    with pytest.raises(ExportError, match="needs calibration inputs"):
        export.quantize_int8(result.path, tmp_path / "x.onnx", mode="static")
    assert not (tmp_path / "x.onnx").exists()


def test_bad_export_arguments(tmp_path: Path) -> None:
    model = TinyRefNet()
    with pytest.raises(ExportError, match="2 example inputs but 1 input names"):
        export.export_onnx(model, _inputs(), tmp_path / "a.onnx", input_names=["gray"], output_names=["ab"])
    with pytest.raises(ExportError, match=r"unknown inputs \['color'\]"):
        export.export_onnx(
            model,
            _inputs(),
            tmp_path / "a.onnx",
            input_names=["gray", "refs"],
            output_names=["ab"],
            dynamic_axes={"color": {0: "B"}},
        )
    with pytest.raises(ExportError, match="exporter must be"):
        export.export_onnx(
            model, _inputs(), tmp_path / "a.onnx", input_names=["gray", "refs"], output_names=["ab"], exporter="tflite"
        )  # type: ignore[arg-type]


def test_failed_export_keeps_the_earlier_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.onnx"
    target.write_bytes(b"earlier good copy")
    wrong = (torch.rand(1, 3, 16, 16), torch.rand(1, 2, 3, 16, 16))  # a 4-D clip: the conv3d fails
    with pytest.raises(ExportError, match="cannot export TinyRefNet"):
        export.export_onnx(TinyRefNet(), wrong, target, input_names=["gray", "refs"], output_names=["ab"])
    assert target.read_bytes() == b"earlier good copy"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.onnx"]


def test_missing_and_corrupt_onnx_files(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not found"):
        export.ort_session(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ExportError, match="fails onnx.checker"):
        export.check_onnx(bad)
    with pytest.raises(ExportError, match="cannot load"):
        export.ort_session(bad)
    with pytest.raises(ExportError, match="file not found"):
        export.quantize_int8(tmp_path / "nope.onnx", tmp_path / "q.onnx", mode="dynamic")


def test_run_session_checks_input_count(tiny) -> None:
    _, result = tiny
    with pytest.raises(ExportError, match=r"takes 2 inputs \['gray', 'refs'\], got 1"):
        export.run_session(export.ort_session(result.path), [np.zeros((1, 1, 2, 16, 16), np.float32)])


# -- timing ---------------------------------------------------------------------------------------
def test_measure_latency_warms_up_and_takes_the_median() -> None:
    calls = []
    lat = export_bench.measure_latency(lambda: calls.append(1), name="noop", warmup=3, repeats=7, frames_per_call=5)
    assert len(calls) == 10
    assert lat.p10_ms <= lat.median_ms <= lat.p90_ms
    assert lat.ms_per_frame == pytest.approx(lat.median_ms / 5)
    with pytest.raises(ParameterError, match="repeats >= 1"):
        export_bench.measure_latency(lambda: None, repeats=0)


@pytest.mark.usefixtures("two_torch_threads")
def test_time_torch_and_session_same_inputs_and_speedups(tiny) -> None:
    model, result = tiny
    x = _inputs(1, 2, 2)
    before = torch.get_num_threads()
    a = export_bench.time_torch(model, x, threads=1, warmup=1, repeats=3)
    assert torch.get_num_threads() == before
    b = export_bench.time_session(export.ort_session(result.path), x, name="ort fp32", warmup=1, repeats=3)
    ratios = export_bench.speedups([a, b], baseline="torch fp32")
    assert ratios["torch fp32"] == pytest.approx(1.0)
    assert ratios["ort fp32"] == pytest.approx(a.ms_per_frame / b.ms_per_frame)
    with pytest.raises(ParameterError, match="baseline 'gpu'"):
        export_bench.speedups([a, b], baseline="gpu")


def test_profile_ops_splits_time_by_operator(tiny) -> None:
    _, result = tiny
    ops = export_bench.profile_ops(result.path, _inputs(1, 2, 2), runs=2)
    assert "Conv" in ops and all(v >= 0 for v in ops.values())
    assert list(ops.values()) == sorted(ops.values(), reverse=True)


# -- TensorRT ------------------------------------------------------------------------------------
def test_tensorrt_absent_gives_a_clear_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    reason = export_tensorrt.tensorrt_skip_reason()
    assert reason is not None and reason.startswith("TensorRT skipped")
    assert "not installed" in reason and "NVIDIA" in reason and "ONNX Runtime" in reason
    with pytest.raises(ExportError, match="TensorRT skipped"):
        export_tensorrt.build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", {})
    assert not (tmp_path / "m.engine").exists()


def test_tensorrt_without_cuda_gives_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.0"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    reason = export_tensorrt.tensorrt_skip_reason()
    assert reason is not None and "tensorrt 10.0 is installed" in reason and "no CUDA GPU" in reason
