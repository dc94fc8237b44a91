"""Atomic writes, hashing, the step context and the index page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenecolor.core import artifacts
from scenecolor.core.errors import MissingUpstreamError, ParameterError
from scenecolor.workbook import pipeline, report


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    artifacts.atomic_write_json(target, {"a": 1})
    with pytest.raises(ZeroDivisionError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise ZeroDivisionError
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_hashes_are_content_based(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("hello")
    tree = artifacts.sha256_tree(tmp_path)
    assert tree == {"d/a.txt": artifacts.sha256_bytes(b"hello")}
    assert artifacts.digest_of({"b": 1, "a": 2}) == artifacts.digest_of({"a": 2, "b": 1})
    artifacts.atomic_save_npy(tmp_path / "z.npy", np.arange(3))
    assert np.load(tmp_path / "z.npy").tolist() == [0, 1, 2]


def test_step_context_records_and_meta(tmp_path: Path, notebook_values) -> None:
    ctx = pipeline.open_step("00_data_prep", notebook_values("00_data_prep", run_dir=str(tmp_path), seed=7))
    assert ctx.out == tmp_path.resolve() / "artifacts" / "00_data_prep"
    ctx.record_metric("frames", np.int64(12), unit="frames")
    ctx.record_metric("frames", 13)  # re-recording replaces
    ctx.record_metric("paper psnr", 37.89, unit="dB", source="quoted")
    ctx.record_table("splits", pd.DataFrame({"split": ["train", "test"], "n": [3, 1]}))
    with pytest.raises(ParameterError):
        ctx.record_metric("x", 1, source="made up")
    ctx.record_inputs({"clip.mp4": "ab" * 32})
    meta = ctx.finish()
    assert meta["inputs"] == {"files": {"clip.mp4": "ab" * 32}}
    assert meta["seed"] == 7 and meta["params"]["seed"] == 7
    assert "results.json" in meta["outputs"] and meta["git_commit"]
    results = json.loads((ctx.out / "results.json").read_text())
    assert [m["value"] for m in results["metrics"]] == [13, 37.89]
    assert results["tables"][0]["rows"] == [{"split": "train", "n": 3}, {"split": "test", "n": 1}]

    nxt = pipeline.open_step("02", notebook_values("02_scene_analysis", run_dir=str(tmp_path)))
    assert nxt.upstream("00") == ctx.out
    with pytest.raises(MissingUpstreamError, match="Run 01_embedder_training.ipynb first into that same folder"):
        nxt.upstream("01_embedder_training")


def test_seed_gives_same_numbers() -> None:
    import torch

    pipeline.seed_everything(3)
    a = (np.random.rand(3), torch.rand(3))
    pipeline.seed_everything(3)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_unknown_step_and_parameter() -> None:
    with pytest.raises(ParameterError, match="unknown step"):
        pipeline.get_step("42")
    with pytest.raises(ParameterError, match="unknown parameter 'frobnicate'"):
        pipeline.validate_params("00_data_prep", {"frobnicate": 1})


def test_open_step_reads_every_parameter_from_the_notebook(tmp_path: Path, notebook_values) -> None:
    """Every field of the model is read from the namespace, validated and recorded; other variables are ignored."""
    values = notebook_values("03_reference_selection", run_dir=str(tmp_path), hog_tune_sizes=[48], hog_tune_cells=[16])
    ctx = pipeline.open_step("03_reference_selection", {**values, "np": np, "_": 1})
    meta = ctx.finish()
    assert meta["params"] == {**values, "run_dir": str(tmp_path)}
    assert meta["params"]["hog_tune_sizes"] == [48] and meta["params"]["hog_tune_cells"] == [16]
    assert set(meta["params"]) == set(pipeline.get_step("03").params_model.model_fields)


def test_open_step_rejects_a_missing_or_invalid_parameter(tmp_path: Path, notebook_values) -> None:
    values = notebook_values("03_reference_selection", run_dir=str(tmp_path))
    del values["hog_tune_cells"]
    with pytest.raises(ParameterError, match=r"hog_tune_cells not defined.*\n    hog_tune_cells = \[8, 16\]  # HOG"):
        pipeline.open_step("03_reference_selection", values)
    bad = notebook_values("03_reference_selection", run_dir=str(tmp_path), hog_tune_sizes=[16], hog_tune_cells=[16])
    with pytest.raises(ParameterError, match="03_reference_selection.ipynb: .*no HOG setting to tune"):
        pipeline.open_step("03_reference_selection", bad)
    with pytest.raises(ParameterError, match=r"parameter 'top_r' = 9: Input should be less than or equal to 5"):
        pipeline.open_step("03_reference_selection", {**bad, "hog_tune_sizes": [32], "top_r": 9})
    assert not (tmp_path / "artifacts").exists()  # nothing opened


@pytest.mark.parametrize(
    "step_id", ["01_embedder_training", "04_colorizer_training", "05_evaluation", "06_edge_export"]
)
def test_device_parameter(step_id: str, notebook_values) -> None:
    model = pipeline.get_step(step_id).params_model
    assert model().device == "auto"
    assert [model(device=d).device for d in ("cpu", "cuda")] == ["cpu", "cuda"]
    with pytest.raises(ParameterError, match=r"parameter 'device' = 'gpu': Input should be 'auto', 'cpu' or 'cuda'"):
        pipeline.validate_params(step_id, notebook_values(step_id, device="gpu"))


def test_index_page_shows_measured_and_quoted(tmp_path: Path, notebook_values) -> None:
    ctx = pipeline.open_step("00_data_prep", notebook_values("00_data_prep", run_dir=str(tmp_path)))
    ctx.record_metric("psnr", 31.2, unit="dB")
    ctx.record_metric("psnr (paper)", 37.89, unit="dB", source="quoted")
    ctx.finish()
    artifacts.atomic_write_json(
        tmp_path / "run.json",
        {
            "run_id": "r1",
            "profile": "smoke",
            "steps": [{"step": "00_data_prep", "status": "executed", "wall_time_s": 1.5}],
            "params": {"00_data_prep": {"seed": 0}},
            "versions": {"torch": "x"},
            "machine": {},
        },
    )
    page = report.write_index(tmp_path).read_text()
    assert "psnr (paper)" in page and 'class="badge quoted"' in page and "37.89" in page
    assert report.format_value(float("inf")) == "∞" and report.format_value(1234567.0) == "1,234,567"
