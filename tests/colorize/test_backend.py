"""The ONNX Runtime backend and the torch backend (scenecolor.colorize.backend) give the same colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scenecolor.colorize import model as C
from scenecolor.colorize.backend import ColorizerBackend, TorchColorizer
from scenecolor.colorize.train import TrainConfig
from scenecolor.core import training
from scenecolor.core.color import lab_to_rgb
from scenecolor.export import models as export_models

SMALL = TrainConfig(resolution=32, clip_len=3, width=0.125).model_config()  # a tiny copy of the real network


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> tuple[TorchColorizer, export_models.OnnxColorizer]:
    folder = tmp_path_factory.mktemp("backend")
    torch.manual_seed(3)
    model = C.SceneColorizer(SMALL).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    training.save_checkpoint(
        folder / "colorizer.pt",
        arch=C.ARCH,
        model=model,
        optimizer=None,
        epoch=1,
        config={"model": SMALL.to_dict(), "train": {"clip_len": 4}},
        history=[],
    )
    gray = torch.rand(1, 1, 4, 32, 32)
    refs = torch.rand(1, 3, 3, 32, 32) * 60
    export_models.export_colorizer(folder / "colorizer.pt", folder, gray, refs)
    return TorchColorizer.from_checkpoint(folder / "colorizer.pt"), export_models.onnx_colorizer(folder)


def _scene(seed: int, n_frames: int, n_refs: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth moving grey ramp (T, 32, 32) and Lab references (R, 32, 32, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    gray = np.stack(
        [
            np.clip(0.2 + 0.6 * (xx + 0.05 * t) * yy + 0.02 * rng.standard_normal((32, 32)), 0, 1)
            for t in range(n_frames)
        ]
    )
    refs = np.concatenate(
        [rng.uniform(20, 90, (n_refs, 32, 32, 1)), rng.uniform(-40, 40, (n_refs, 32, 32, 2))], axis=-1
    )
    return gray.astype(np.float32), refs.astype(np.float32)


def test_both_implement_the_backend_protocol(backends) -> None:
    torch_backend, onnx_backend = backends
    assert isinstance(torch_backend, ColorizerBackend) and isinstance(onnx_backend, ColorizerBackend)
    for attr in ("resolution", "max_refs", "clip_len"):
        assert getattr(onnx_backend, attr) == getattr(torch_backend, attr), attr


@pytest.mark.parametrize("n_frames,n_refs", [(4, 3), (7, 5), (1, 1)])
def test_onnx_and_torch_give_the_same_frames_and_colours(backends, n_frames: int, n_refs: int) -> None:
    """Same clip loop as a video: clips of clip_len frames, the scene's references encoded once."""
    torch_backend, onnx_backend = backends
    gray, refs = _scene(n_frames * 10 + n_refs, n_frames, n_refs)
    outputs = []
    for backend in (torch_backend, onnx_backend):
        feats = backend.encode_references(refs)
        clips = [
            backend.predict_ab(gray[s : s + backend.clip_len], feats) for s in range(0, n_frames, backend.clip_len)
        ]
        outputs.append(np.concatenate(clips))
    ab_torch, ab_onnx = outputs
    assert ab_torch.shape == ab_onnx.shape == (n_frames, 32, 32, 2)
    assert np.abs(ab_torch - ab_onnx).max() < 1e-2  # BN folding + float32 rounding, on ab spanning +-110
    rgb = [(lab_to_rgb(np.concatenate([gray[..., None] * 100, ab], -1)) * 255).round() for ab in outputs]
    assert np.abs(rgb[0] - rgb[1]).max() <= 1  # 8-bit frames differ by at most one level


class _FixedFinder:
    """Stand-in for colorize_refs.ReferenceFinder: the same Lab references for every scene."""

    def __init__(self, refs_rgb: np.ndarray) -> None:
        self.refs_rgb = refs_rgb

    def find(self, keyframes: list[np.ndarray], k: int) -> list[np.ndarray]:
        return [np.arange(k) % len(self.refs_rgb) for _ in keyframes]

    def find_scenes(self, keyframes: list[list[np.ndarray]], k: int) -> list:
        from scenecolor.colorize.refs import SceneReferences

        return [
            SceneReferences(ids, [{"source": "fixed", "frame": int(i), "score": 1.0} for i in ids])
            for ids in self.find(keyframes, k)
        ]

    def reference_lab(self, ids: np.ndarray, resolution: int) -> np.ndarray:
        import cv2

        from scenecolor.core.color import rgb_to_lab

        return np.stack(
            [
                rgb_to_lab(cv2.resize(self.refs_rgb[i], (resolution, resolution), interpolation=cv2.INTER_AREA))
                for i in ids
            ]
        )


def test_colorize_video_backend_onnx_matches_backend_torch(tmp_path: Path) -> None:
    """`scenecolor colorize --backend onnx` and `--backend torch`: same frame count, close colours."""
    from scenecolor.colorize.video import colorize_video_file
    from scenecolor.core.video import iter_frames, write_video
    from scenecolor.data.frames import Preprocess
    from scenecolor.scenes.ssim_detector import SsimConfig
    from scenecolor.workbook.runs import open_backend

    run = tmp_path / "run"
    ckpt = run / "artifacts" / "04_colorizer_training" / "colorizer.pt"
    torch.manual_seed(5)
    model = C.SceneColorizer(SMALL).eval()
    training.save_checkpoint(
        ckpt,
        arch=C.ARCH,
        model=model,
        optimizer=None,
        epoch=1,
        config={"model": SMALL.to_dict(), "train": {"clip_len": 3}},
        history=[],
    )
    export_models.export_colorizer(
        ckpt, run / "artifacts" / "06_edge_export", torch.rand(1, 1, 3, 32, 32), torch.rand(1, 2, 3, 32, 32) * 60
    )
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    frames = [
        np.stack([(xx * 3 + t * 4) % 256, (yy * 4) % 256, np.full_like(xx, 90 + t)], -1).astype(np.uint8)
        for t in range(10)
    ]
    write_video(tmp_path / "in.mp4", frames, fps=10)
    finder = _FixedFinder(rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8))
    decoded = {}
    for backend in ("torch", "onnx"):
        summary = colorize_video_file(
            tmp_path / "in.mp4",
            tmp_path / f"{backend}.mp4",
            model=open_backend(run, backend),
            prep=Preprocess(),
            cut_config=SsimConfig(),
            references=2,
            backend=backend,
            progress=False,
            finder=finder,
        )
        assert summary.n_frames == 10 and summary.backend == backend
        decoded[backend] = np.stack(list(iter_frames(tmp_path / f"{backend}.mp4"))).astype(np.int16)
    assert decoded["torch"].shape == decoded["onnx"].shape == (10, 48, 64, 3)
    assert np.abs(decoded["torch"] - decoded["onnx"]).mean() < 0.5  # same colours up to float rounding and H.264
    assert np.abs(decoded["torch"] - decoded["onnx"]).max() <= 8
