"""Video IO: probe, streaming decode, atomic writer, and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scenecolor.core import video
from scenecolor.core.errors import CorruptVideoError, EmptyVideoError, VideoNotFoundError


def _clip(path: Path, n: int = 12, size: tuple[int, int] = (48, 32)) -> Path:
    w, h = size
    frames = [np.full((h, w, 3), (i * 20) % 255, np.uint8) for i in range(n)]
    return video.write_video(path, frames, fps=25)


def test_write_probe_and_decode_round_trip(tmp_path: Path) -> None:
    path = _clip(tmp_path / "a.mp4")
    info = video.probe(path)
    assert (info.width, info.height, info.n_frames) == (48, 32, 12)
    assert info.fps == pytest.approx(25.0)
    frames = video.read_frames(path)
    assert frames.shape == (12, 32, 48, 3) and frames.dtype == np.uint8
    # constant grey frames survive H.264 within a few levels
    assert abs(int(frames[5].mean()) - 100) <= 3
    gray = video.read_frames(path, pixel_format="gray", size=(24, 16), step=5)
    assert gray.shape == (3, 16, 24)
    assert video.count_frames(path) == 12


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFoundError, match="does not exist"):
        video.probe(tmp_path / "nope.mp4")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(EmptyVideoError, match="empty file"):
        list(video.iter_frames(empty))


def test_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video at all" * 50)
    with pytest.raises(CorruptVideoError, match="junk.mp4"):
        list(video.iter_frames(junk))


def test_truncated_file(tmp_path: Path) -> None:
    path = _clip(tmp_path / "full.mp4", n=40, size=(64, 48))
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptVideoError, match="cut.mp4"):
        list(video.iter_frames(cut))


def test_writer_failure_keeps_previous_file(tmp_path: Path) -> None:
    path = _clip(tmp_path / "keep.mp4")
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with video.VideoWriter(path, 25, 48, 32) as writer:
            writer.write(np.zeros((32, 48, 3), np.uint8))
            raise RuntimeError("encoder crashed")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_writer_rejects_bad_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        video.VideoWriter(tmp_path / "odd.mp4", 25, 47, 32)
    with pytest.raises(ValueError, match="uint8"):
        with video.VideoWriter(tmp_path / "f.mp4", 25, 48, 32) as writer:
            writer.write(np.zeros((32, 48, 3), np.float32))
    assert not (tmp_path / "f.mp4").exists()
