"""``scenecolor bench export`` end to end on a tiny run folder (colorizer checkpoint + notebook 06's ONNX files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from scenecolor.cli import main
from scenecolor.colorize import model as C
from scenecolor.colorize.train import TrainConfig
from scenecolor.core import training
from scenecolor.export import models as export_models

SMALL = TrainConfig(resolution=32, clip_len=3, width=0.125).model_config()


def _run(tmp_path: Path, with_onnx: bool = True) -> Path:
    run = tmp_path / "run"
    ckpt = run / "artifacts" / "04_colorizer_training" / "colorizer.pt"
    torch.manual_seed(0)
    training.save_checkpoint(
        ckpt,
        arch=C.ARCH,
        model=C.SceneColorizer(SMALL),
        optimizer=None,
        epoch=1,
        config={"model": SMALL.to_dict(), "train": {"clip_len": 3}},
        history=[],
    )
    if with_onnx:
        folder = run / "artifacts" / "06_edge_export"
        result = export_models.export_colorizer(
            ckpt, folder, torch.rand(1, 1, 3, 32, 32), torch.rand(1, 2, 3, 32, 32) * 60
        )
        export_models.quantize_colorizer(result, [(torch.rand(1, 1, 3, 32, 32), torch.rand(1, 2, 3, 32, 32) * 60)])
    return run


def test_bench_export_prints_every_runtime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path)
    code = main(
        [
            "bench",
            "export",
            "--run",
            str(run),
            "--size",
            "48",
            "--references",
            "2",
            "--warmup",
            "0",
            "--repeats",
            "2",
            "--json",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["runtime"] for r in rows]
    assert names == [
        "torch fp32 (eager)",
        "torch fp32 (BN folded, channels-last)",
        "ONNX Runtime fp32",
        "ONNX Runtime int8 (static qdq)",
    ]
    assert rows[0]["speed-up vs torch eager"] == 1.0 and all(r["ms / frame"] > 0 for r in rows)
    assert rows[3]["file (MB)"] < rows[2]["file (MB)"]


def test_bench_export_without_notebook_06(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path, with_onnx=False)
    assert main(["bench", "export", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "no 'colorizer.onnx' from 06_edge_export.ipynb" in err and "run notebooks/06_edge_export.ipynb" in err
