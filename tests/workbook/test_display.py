"""What a figure cell, a video cell and a notebook's last cell show: the figure, a player, one line."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.core.formatters import DisplayFormatter

from scenecolor.core.artifacts import atomic_write_json
from scenecolor.core.video import write_video
from scenecolor.workbook import pipeline, report


def test_save_figure_returns_a_path_that_displays_nothing(tmp_path: Path, notebook_values) -> None:
    ctx = pipeline.open_step("00_data_prep", notebook_values("00_data_prep", run_dir=str(tmp_path)))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = ctx.save_figure(fig, "line")
    plt.close(fig)
    assert isinstance(path, Path) and path.is_file() and path.name == "line.png"
    assert DisplayFormatter().format(path) == ({}, {})  # no "PosixPath(...)" under the figure
    meta = ctx.finish()
    assert meta["step"] == "00_data_prep" and DisplayFormatter().format(meta) == ({}, {})


def test_record_video_writes_a_poster_and_shows_an_embedded_player(tmp_path: Path, notebook_values) -> None:
    ctx = pipeline.open_step("05_evaluation", notebook_values("05_evaluation", run_dir=str(tmp_path)))
    frames = np.zeros((6, 32, 48, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(6, dtype=np.uint8)[:, None, None] * 40
    mp4 = write_video(ctx.out / "videos" / "toy_compare.mp4", frames, fps=5)
    player = ctx.record_video(mp4, caption="toy, left to right: gray | ours | ground truth")
    assert (ctx.out / "videos" / "toy_compare.poster.png").is_file()
    html = player._repr_html_()
    assert "<video" in html and "data:video/mp4;base64," in html and 'poster="data:image/png;base64,' in html
    results = json.loads((ctx.out / "results.json").read_text())
    assert results["videos"][0]["path"] == "artifacts/05_evaluation/videos/toy_compare.mp4"

    atomic_write_json(
        tmp_path / "run.json", {"run_id": "toy", "steps": [{"step": "05_evaluation", "status": "executed"}]}
    )
    index = report.write_index(tmp_path).read_text()
    assert "<video controls" in index
    assert 'poster="artifacts/05_evaluation/videos/toy_compare.poster.png"' in index
    assert '<source src="artifacts/05_evaluation/videos/toy_compare.mp4" type="video/mp4">' in index
    assert "gray | ours | ground truth" in index
