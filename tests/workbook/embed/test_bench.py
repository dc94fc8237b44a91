"""The embedder / index benchmarks and their CLI (`scenecolor bench embed`, `scenecolor embed-train`)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from helpers.embedder import build_store
from scenecolor.cli import main
from scenecolor.core.errors import ParameterError
from scenecolor.core.timing import matmul_gflops
from scenecolor.embed.model import Embedder, EmbedderConfig
from scenecolor.workbook.embed import bench as EB
from scenecolor.workbook.retrieval import bench as B


def test_flop_count_of_resnet50_matches_the_known_figure():
    gflop = EB.flops_per_frame(Embedder(EmbedderConfig("resnet50")), 224) / 1e9
    assert 7.9 < gflop < 8.5  # ~4.1 G multiply-adds = ~8.2 GFLOP


def test_matmul_rate_and_extraction_bench_are_positive():
    assert matmul_gflops(n=128, repeats=2) > 0
    res = EB.bench_extraction("resnet18", size=32, batch=2, batches=1)
    assert res.frames_per_s > 0 and res.gflop_per_frame > 0
    assert res.fraction_of_floor == pytest.approx(res.frames_per_s / (res.matmul_gflops / res.gflop_per_frame))
    with pytest.raises(ParameterError, match="batch"):
        EB.bench_extraction("resnet18", size=32, batch=0)


def test_synthetic_vectors_and_search_bench():
    x, q = B.synthetic_vectors(3000, 16, 50, seed=1, clusters=20)
    assert x.shape == (3000, 16) and q.shape == (50, 16)
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    rows = B.bench_search(n=3000, dim=16, n_queries=50, nprobe=8)
    assert [r["index"] for r in rows] == ["flat", "ivfpq"]
    assert rows[0]["recall@1_vs_exact"] == 1.0 and 0.5 <= rows[1]["recall@1_vs_exact"] <= 1.0
    with pytest.raises(ParameterError, match="n >= 2000"):
        B.bench_search(n=10)


def test_cli_bench_embed_prints_fraction_of_floor(capsys):
    assert (
        main(
            [
                "bench",
                "embed",
                "--backbone",
                "resnet18",
                "--size",
                "32",
                "--batch",
                "2",
                "--batches",
                "1",
                "--n",
                "3000",
                "--dim",
                "16",
                "--queries",
                "20",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert re.search(r"fraction of floor: \d+\.\d\d", out)
    assert "ivfpq" in out and "recall@1" in out


def test_cli_embed_train_single_process(tmp_path, capsys):
    store = build_store(tmp_path / "frames", size=32)
    args = [
        "embed-train",
        "--store",
        str(store.folder),
        "--out",
        str(tmp_path / "out"),
        "--device",
        "cpu",
        "--pretrained",
        "none",
        "--input-size",
        "32",
        "--epochs",
        "1",
        "--batches-per-epoch",
        "1",
        "--shots-per-batch",
        "2",
        "--val-triplets",
        "4",
        "--augment",
    ]
    assert main(args) == 0
    assert (tmp_path / "out" / "embedder.pt").is_file()
    assert torch.load(tmp_path / "out" / "embedder.pt", weights_only=True)["config"]["train"]["augment"] is True
    assert main(["embed-train", "--store", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")]) == 2
    assert "frame store" in capsys.readouterr().err


def test_train_argv_round_trips_through_the_parser():
    from scenecolor.cli.train import build_arg_parser, train_argv

    parser = build_arg_parser()
    args = parser.parse_args(
        [
            "embedder",
            "--store",
            "s",
            "--out",
            "o",
            "--epochs",
            "3",
            "--augment",
            "--mining",
            "random",
            "--stop-after",
            "1",
        ]
    )
    again = parser.parse_args(train_argv(args, "embedder"))
    assert vars(again) == vars(args)


@pytest.mark.usefixtures("two_torch_threads")
def test_torch_threads_is_restored_even_after_an_error():
    from scenecolor.core.timing import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


@pytest.mark.usefixtures("two_torch_threads")
def test_side_by_side_rate_runs_single_thread_copies_and_restores_threads():
    before = torch.get_num_threads()
    assert EB.side_by_side_rate("resnet18", 32, batch=2, workers=2, batches=1, pooling="regional") > 0
    assert torch.get_num_threads() == before
    with pytest.raises(ParameterError, match="workers"):
        EB.side_by_side_rate("resnet18", 32, batch=2, workers=0)


def test_gallery_bench_reports_the_build_against_the_floor_and_the_network_as_built(tmp_path):
    row = B.bench_gallery(12, batch_size=4, workers=2, scenes=2, work_dir=tmp_path)
    assert row["images"] == 12 and row["files skipped"] == 0 and row["index"] == "flat"
    assert row["build frames/s"] > 0 and row["network alone as the build runs it frames/s"] > 0
    assert row["build / floor"] == pytest.approx(row["build frames/s"] / row["FLOP floor frames/s"])
    assert row["search ms per scene"] > 0
    assert len(list((tmp_path / "images").glob("*.jpg"))) == 12  # kept for the next run
    with pytest.raises(ParameterError, match="images"):
        B.bench_gallery(0)


def test_best_seconds_keeps_the_shortest_call():
    import time

    from scenecolor.core.timing import best_seconds

    pauses = iter([0.03, 0.0, 0.02])
    assert best_seconds(lambda: time.sleep(next(pauses)), 3) < 0.015
