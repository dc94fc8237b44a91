"""The long-video generator and the RSS sampler of ``scenecolor bench colorize-memory`` (no model)."""

from __future__ import annotations

import time
from pathlib import Path

from scenecolor.core import media
from scenecolor.workbook import bench_memory as memory_bench


def test_long_video_has_the_asked_length_size_cuts_and_audio(tmp_path: Path) -> None:
    path = memory_bench.make_long_video(tmp_path / "long.mp4", seconds=2, size=(64, 48), fps=10, shot_seconds=1)
    info = media.probe_media(path)
    assert (info.width, info.height, info.fps) == (64, 48, 10) and [a.codec for a in info.audio] == ["aac"]
    frames = [f.rgb for _, f in media.iter_timed_frames(path)]
    assert len(frames) == 20
    assert (
        abs(float(frames[10].mean()) - float(frames[9].mean())) + abs(frames[10].astype(int) - frames[9]).mean() > 5
    )  # a cut


def test_sampler_records_rss_against_frames(tmp_path: Path) -> None:
    sampler = memory_bench.RssSampler(interval=0.01, live_csv=tmp_path / "live.csv")
    sampler.start()
    for n in range(1, 4):
        sampler.frames = n
        time.sleep(0.03)
    sampler.stop()
    assert sampler.samples[-1][1] == 3 and all(m > 10 for _, _, m in sampler.samples)
    assert (tmp_path / "live.csv").read_text().startswith("seconds,frames,rss_mb\n")
    assert memory_bench.peak_rss_mb() >= max(m for _, _, m in sampler.samples) - 1
