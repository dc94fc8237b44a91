"""The networks on a CUDA GPU give the CPU's results: the colorizer behind TorchColorizer (through colorize_scene),
the embedder's gallery and query encoders, and ``scenecolor colorize --device cuda`` end to end.

Marked ``gpu`` (``pytest -m gpu``; scripts/gpu_check.sh runs them): skipped, with the reason, where torch sees no
CUDA GPU. Convolutions on the GPU may use TF32 (torch's default for cuDNN), so results agree to a tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from helpers.colorizer import build_colorize_run
from helpers.media import make_clip
from scenecolor.cli import main
from scenecolor.colorize.backend import TorchColorizer
from scenecolor.colorize.exemplar import colorize_scene
from scenecolor.colorize.model import SceneColorizer
from scenecolor.colorize.train import TrainConfig
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.device import resolve_device
from scenecolor.core.media import iter_timed_frames
from scenecolor.embed.model import Embedder, EmbedderConfig
from scenecolor.retrieval.index import model_encoder, query_encoder

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU that torch sees (torch.cuda.is_available() is False here); "
        "run scripts/gpu_check.sh on a GPU machine",
    ),
]


def _smooth_rgb(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """uint8 (n, h, w, 3) smooth random colour images (blurred noise), so ab has structure to transfer."""
    rng = np.random.default_rng(seed)
    out = [cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.float32), (0, 0), 6) for _ in range(n)]
    return np.clip((np.stack(out) - 96) * 3 + 128, 0, 255).astype(np.uint8)


def test_auto_is_the_gpu() -> None:
    assert resolve_device("auto").type == "cuda"


def test_the_colorizer_runs_on_the_gpu_and_gives_the_cpu_result() -> None:
    torch.manual_seed(0)
    model = SceneColorizer(TrainConfig(resolution=64, clip_len=3, width=0.25).model_config()).eval()
    cpu = TorchColorizer(model, clip_len=3, device="cpu")
    gpu = TorchColorizer(model, clip_len=3, device="cuda")
    assert {p.device.type for p in gpu.model.parameters()} == {"cuda"}
    assert {p.device.type for p in cpu.model.parameters()} == {"cpu"}
    frames = _smooth_rgb(5, 64, 96, seed=1)
    L = rgb_to_lab(frames)[..., 0].astype(np.float32)
    refs = rgb_to_lab(_smooth_rgb(2, 64, 96, seed=2)).astype(np.float32)
    torch.cuda.reset_peak_memory_stats()
    ab_gpu = colorize_scene(gpu, L, refs, clip_len=3).ab
    assert torch.cuda.max_memory_allocated() > 0  # the network's tensors really were on the GPU
    ab_cpu = colorize_scene(cpu, L, refs, clip_len=3).ab
    assert ab_gpu.shape == ab_cpu.shape == (5, 64, 96, 2) and ab_gpu.dtype == np.float32
    diff = np.abs(ab_gpu - ab_cpu)
    assert float(np.abs(ab_cpu).mean()) > 0.1  # a non-trivial output to compare
    assert diff.max() < 2.0 and diff.mean() < 0.2, (diff.max(), diff.mean())


@pytest.mark.parametrize("pooling", ["gem", "regional"])
def test_the_embedder_encoders_on_the_gpu_give_the_cpu_vectors(pooling: str) -> None:
    torch.manual_seed(0)
    model = Embedder(EmbedderConfig(backbone="resnet18", pooling=pooling)).eval()
    frames = _smooth_rgb(6, 64, 64, seed=3)
    for make in (lambda d: model_encoder(model, 64, d), lambda d: query_encoder(model, 64, d)):
        v_cpu, v_gpu = make("cpu")(frames), make(torch.device("cuda"))(frames)
        assert v_gpu.shape == v_cpu.shape and v_gpu.dtype == np.float32
        cos = (v_cpu * v_gpu).sum(1) / (np.linalg.norm(v_cpu, axis=1) * np.linalg.norm(v_gpu, axis=1))
        assert cos.min() > 0.999 and np.abs(v_cpu - v_gpu).max() < 5e-3


def test_colorize_cli_on_cuda_writes_what_the_cpu_writes(tmp_path: Path, capsys) -> None:
    run = build_colorize_run(tmp_path / "run")
    clip = make_clip(tmp_path / "in.mp4", n=10, size=(96, 64), audio=["aac"])
    outs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.mp4"
        args = ["colorize", str(clip), "--out", str(out), "--run", str(run), "--references", "2", "--json"]
        assert main([*args, "--quiet", "--device", device]) == 0
        assert json.loads(capsys.readouterr().out)["n_frames"] == 10
        outs[device] = np.stack([t.rgb for _, t in iter_timed_frames(out)]).astype(np.float32)
    assert outs["cpu"].shape == outs["cuda"].shape == (10, 64, 96, 3)
    assert np.abs(outs["cpu"] - outs["cuda"]).mean() < 2.0  # 8-bit levels, after H.264 on both
