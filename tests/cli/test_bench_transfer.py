"""``scenecolor bench transfer FOLDER --run RUN``: the exemplar protocol on any folder of colour clips, every method
through the same output encoding, per-clip and mean tables (and JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.colorizer import pan_frames, photo
from scenecolor.cli import main
from scenecolor.core.encoding import Encoding
from scenecolor.core.video import read_frames, write_video
from scenecolor.evaluate import exemplar as X
from scenecolor.evaluate import metrics as M

WANTED = {"ours", "flow_dis", "flow_farneback", "paste", "reinhard", "gray", "truth_encoded"}


@pytest.fixture(scope="module")
def run(colorize_run: Path) -> Path:
    """The session's tiny trained run folder (tests/conftest.py), read only."""
    return colorize_run


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two generated colour clips (a pan across a photograph each), one in a sub-folder."""
    folder = tmp_path_factory.mktemp("clips")
    write_video(folder / "cat.mp4", np.stack(pan_frames(photo("chelsea"), 6, 48, 1)), 25.0, crf=0)
    (folder / "more").mkdir()
    write_video(folder / "more" / "coffee.mp4", np.stack(pan_frames(photo("coffee"), 6, 48, 2)), 25.0, crf=0)
    (folder / "notes.txt").write_text("not a video")
    return folder


@pytest.mark.slow
def test_bench_transfer_scores_every_method_through_one_encoding(
    run: Path, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "written"
    argv = ["bench", "transfer", str(clips), "--run", str(run), "--width", "32", "--frames", "5", "--crf", "23"]
    assert main([*argv, "--out-dir", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scored"] == "H.264 crf 23"
    rows = report["per_clip"]
    assert {r["clip_id"] for r in rows} == {"cat", "coffee"}
    for clip_id in ("cat", "coffee"):
        mine = [r for r in rows if r["clip_id"] == clip_id]
        assert {X.metric_key(r["method"]) for r in mine} == WANTED
        assert len({(r["n_frames"], r["height"], r["width"]) for r in mine}) == 1  # same frames, same size
        scored = X.read_clip(clips / ("cat.mp4" if clip_id == "cat" else "more/coffee.mp4"), width=32, max_frames=5)
        assert scored.frames.shape[1:3] == (32, 32)
        for r in mine:  # each score is that of the file written
            written = read_frames(out / X.output_name(clip_id, r["method"], Encoding(crf=23)))
            assert r["PSNR"] == pytest.approx(M.finite_mean(M.psnr(scored.frames[1:], written)))
    means = {X.metric_key(r["method"]): r for r in report["mean"]}
    assert set(means) == WANTED and all(r["clips"] == 2 and r["frames"] == 8 for r in means.values())
    assert means["truth_encoded"]["PSNR"] > max(r["PSNR"] for k, r in means.items() if k != "truth_encoded")

    # the same command as tables; exemplar-eval is the same protocol
    assert main(["exemplar-eval", str(clips / "cat.mp4"), "--run", str(run), "--width", "32", "--frames", "5"]) == 0
    printed = capsys.readouterr().out
    assert "PSNR per clip (scored H.264 crf" in printed and "SSIM per clip" in printed
    assert "mean over clips" in printed and "flow_dis" in printed and "flow warp (DIS)" in printed


@pytest.mark.slow
def test_bench_transfer_refuses_bad_options(run: Path, clips: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["bench", "transfer", str(clips), "--run", str(run), "--frames", "3"]
    assert main([*base, "--width", "33"]) == 2
    assert "--width 33" in capsys.readouterr().err
    assert main([*base, "--width", "32", "--crf", "99"]) == 2
    assert "--crf 99 is out of range" in capsys.readouterr().err
    assert main([*base, "--width", "32", "--crf", "20", "--before-encoding"]) == 2
    assert "drop --crf" in capsys.readouterr().err


@pytest.mark.slow
def test_colorize_writes_the_encoding_asked_for(run: Path, clips: Path, tmp_path: Path, capsys) -> None:
    """--crf and --lossless reach the file `scenecolor colorize` writes (and its JSON summary)."""
    clip = clips / "cat.mp4"
    base = ["colorize", str(clip), "--run", str(run), "--reference", f"{clip}#frame=0", "--quiet", "--json"]
    assert main([*base, "--out", str(tmp_path / "c30.mp4"), "--crf", "30"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["media"]["encoding"] == {"crf": 30, "lossless": None}
    data = (tmp_path / "c30.mp4").read_bytes()
    assert b" crf=30.0 " in data and summary["media"]["pix_fmt"] == "yuv420p"
    assert main([*base, "--out", str(tmp_path / "exact.mkv"), "--lossless", "ffv1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["media"]["encoding"] == {"crf": None, "lossless": "ffv1"} and summary["media"]["pix_fmt"] == "bgr0"
    lossy, exact = read_frames(tmp_path / "c30.mp4"), read_frames(tmp_path / "exact.mkv")
    assert lossy.shape == exact.shape == (6, 48, 48, 3)
    assert 20.0 < M.finite_mean(M.psnr(exact, lossy)) < 60.0  # the same colours, crf 30's loss between them
