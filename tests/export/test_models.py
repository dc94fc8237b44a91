"""scenecolor.export.models on small real networks: the colorizer's two graphs, the embedder, int8, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from scenecolor.colorize import model as C
from scenecolor.colorize.train import TrainConfig
from scenecolor.core import training
from scenecolor.core.errors import CheckpointError, DataError, ExportError
from scenecolor.embed.model import ARCH as EMBEDDER_ARCH
from scenecolor.embed.model import Embedder, EmbedderConfig
from scenecolor.export import models as export_models
from scenecolor.export import onnx as export

SMALL = TrainConfig(resolution=32, clip_len=3, width=0.125).model_config()  # a tiny copy of the real network


def _colorizer_checkpoint(path: Path, seed: int = 0) -> C.SceneColorizer:
    torch.manual_seed(seed)
    model = C.SceneColorizer(SMALL).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    training.save_checkpoint(
        path,
        arch=C.ARCH,
        model=model,
        optimizer=None,
        epoch=1,
        config={"model": SMALL.to_dict(), "train": {"clip_len": 3}},
        history=[],
    )
    return model


def _clip(b: int = 1, t: int = 3, r: int = 2, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    gray = torch.rand(b, 1, t, size, size, generator=g)
    lab = torch.rand(b, r, 3, size, size, generator=g) * torch.tensor([100.0, 80.0, 80.0]).view(1, 1, 3, 1, 1)
    return gray, lab - torch.tensor([0.0, 40.0, 40.0]).view(1, 1, 3, 1, 1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[C.SceneColorizer, export_models.ColorizerExport, Path]:
    folder = tmp_path_factory.mktemp("export06")
    model = _colorizer_checkpoint(folder / "colorizer.pt")
    result = export_models.export_colorizer(folder / "colorizer.pt", folder, *_clip())
    return model, result, folder


def test_colorizer_graphs_are_written_with_metadata(exported) -> None:
    model, result, folder = exported
    assert result.refs.path == folder / "colorizer_refs.onnx" and result.clip.path == folder / "colorizer.onnx"
    assert result.n_params == C.parameter_count(model)
    meta = export_models.read_metadata(result.clip.path)
    assert meta["arch"] == export_models.ONNX_ARCH and meta["role"] == "clip"
    assert (meta["resolution"], meta["max_refs"], meta["clip_len"]) == ("32", "5", "3")
    export.check_onnx(result.refs.path)
    export.check_onnx(result.clip.path)


@pytest.mark.parametrize("b,t,r,size", [(1, 3, 2, 32), (2, 5, 5, 32), (1, 1, 1, 48), (2, 2, 3, 64)])
def test_two_graph_pipeline_matches_the_torch_model(exported, b: int, t: int, r: int, size: int) -> None:
    """Dynamic batch, clip length, reference count and frame size, against the full torch forward."""
    model, _, folder = exported
    backend = export_models.onnx_colorizer(folder)
    gray, refs = _clip(b, t, r, size, seed=b * 100 + t * 10 + r)
    guide = export_models.example_guide(
        gray, refs
    )  # the correspondence stage's flow candidates, computed outside the graphs
    with torch.no_grad():
        want = model(gray, refs, guide).numpy()
    got = backend.colorize_batch(gray, refs, guide)
    assert got.shape == (b, 2, t, size, size)
    assert np.abs(got - want).max() < 1e-3  # ab spans -110..110: float32 rounding only


def test_backend_interface_shapes(exported) -> None:
    _, _, folder = exported
    backend = export_models.onnx_colorizer(folder / "colorizer.onnx")
    assert (backend.resolution, backend.max_refs, backend.clip_len) == (32, 5, 3)
    refs = np.random.default_rng(0).uniform(0, 60, (4, 32, 32, 3)).astype(np.float32)
    feats = backend.encode_references(refs)
    ab = backend.predict_ab(np.full((6, 32, 32), 0.5, np.float32), feats)
    assert ab.shape == (6, 32, 32, 2) and ab.dtype == np.float32 and np.isfinite(ab).all()
    with pytest.raises(DataError, match=r"references must be float32 \(R, H, W, 3\)"):
        backend.encode_references(refs[..., :2])
    with pytest.raises(DataError, match=r"must have the same H, W"):
        backend.predict_ab(np.zeros((2, 16, 16), np.float32), feats)
    with pytest.raises(DataError, match=r"grey clip must be float32 \(T, H, W\)"):
        backend.predict_ab(np.zeros((2, 24, 32), np.float32), feats)


@pytest.mark.parametrize("fmt,ops", [("qdq", "conv"), ("qoperator", "conv_and_data")])
def test_int8_colorizer_loads_runs_and_stays_close(exported, fmt: str, ops: str) -> None:
    model, result, folder = exported
    calib = [_clip(1, 3, 5, seed=s) for s in range(3)]
    refs_q, clip_q = export_models.quantize_colorizer(
        result, calib, op_types=export_models.INT8_OP_SETS[ops], quant_format=fmt
    )
    assert refs_q.name == "colorizer_refs.int8.onnx" and clip_q.name == "colorizer.int8.onnx"
    op_types = {n.op_type for n in onnx.load(str(clip_q)).graph.node}
    assert ("QLinearConv" in op_types) if fmt == "qoperator" else ("DequantizeLinear" in op_types)
    backend = export_models.onnx_colorizer(folder, precision="int8")
    assert backend.int8 == f"static {fmt}"
    gray, refs = _clip(2, 4, 3, seed=7)
    guide = export_models.example_guide(gray, refs)
    got = backend.colorize_batch(gray, refs, guide)
    with torch.no_grad():
        want = model(gray, refs, guide).numpy()
    assert got.shape == want.shape and np.isfinite(got).all()
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.8  # a random tiny net: int8 keeps the signal


@pytest.mark.parametrize("pooling", ["gem", "regional"])
def test_embedder_export_and_parity(tmp_path: Path, pooling: str) -> None:
    torch.manual_seed(0)
    model = Embedder(EmbedderConfig(backbone="resnet18", pooling=pooling)).eval()
    training.save_checkpoint(
        tmp_path / "embedder.pt",
        arch=EMBEDDER_ARCH,
        model=model,
        optimizer=None,
        epoch=1,
        config={"model": model.config.to_dict(), "train": {"input_size": 32}},
        history=[],
    )
    frames = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    result, reports = export_models.export_embedder(tmp_path / "embedder.pt", tmp_path, frames)
    assert result.path.name == "embedder.onnx"
    assert [r.shape for r in reports] == [(3, model.dim), (1, model.dim)]
    assert all(r.max_abs_err < 1e-4 for r in reports)
    assert export_models.read_metadata(result.path)["input_size"] == "32"


# -- bad inputs -----------------------------------------------------------------------------------
def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        export_models.export_colorizer(tmp_path / "nope.pt", tmp_path, *_clip())
    with pytest.raises(CheckpointError, match="does not exist"):
        export_models.export_embedder(tmp_path / "nope.pt", tmp_path, np.zeros((2, 8, 8, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_wrong_architecture_checkpoint(tmp_path: Path) -> None:
    model = Embedder(EmbedderConfig(backbone="resnet18"))
    training.save_checkpoint(
        tmp_path / "embedder.pt",
        arch=EMBEDDER_ARCH,
        model=model,
        optimizer=None,
        epoch=1,
        config={"model": model.config.to_dict(), "train": {"input_size": 32}},
        history=[],
    )
    with pytest.raises(CheckpointError, match="written for architecture 'scenecolor-embedder'"):
        export_models.export_colorizer(tmp_path / "embedder.pt", tmp_path, *_clip())
    assert not (tmp_path / "colorizer.onnx").exists()


def test_embedder_needs_two_frames(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="at least 2 RGB frames"):
        export_models.export_embedder(tmp_path / "embedder.pt", tmp_path, np.zeros((1, 8, 8, 3), np.uint8))


def test_onnx_backend_bad_paths(exported, tmp_path: Path) -> None:
    _, result, folder = exported
    with pytest.raises(ExportError, match="not found; run the edge-export step"):
        export_models.onnx_colorizer(tmp_path)
    with pytest.raises(ExportError, match="is the reference encoder"):
        export_models.onnx_colorizer(folder / "colorizer_refs.onnx")
    with pytest.raises(ExportError, match="precision must be"):
        export_models.onnx_colorizer(folder, precision="fp16")  # type: ignore[arg-type]
    # an ONNX file of another network under the right names: refused by its metadata
    other = tmp_path / "other"
    export.export_onnx(
        torch.nn.Conv2d(3, 2, 1),
        (torch.rand(1, 3, 8, 8),),
        other / "colorizer.onnx",
        input_names=["x"],
        output_names=["y"],
    )
    (other / "colorizer_refs.onnx").write_bytes(result.refs.path.read_bytes())
    with pytest.raises(ExportError, match="is not a scenecolor colorizer clip graph"):
        export_models.onnx_colorizer(other)
