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


def test_fast_gray_decode_is_the_luma_plane_area_averaged(tmp_path: Path) -> None:
    """fast=True with gray + size reads the decoder's Y plane and area-averages it (full range): the
    area average of the full-size gray frame up to the rounding of the limited-to-full range stretch,
    where swscale's wider bilinear filter blurs across the blocks."""
    rng = np.random.default_rng(0)
    frames = [np.repeat(rng.integers(0, 256, (8, 12, 1), dtype=np.uint8), 8, 0).repeat(8, 1) for _ in range(4)]
    frames = [np.repeat(f, 3, axis=2) for f in frames]  # 64x96 blocks of 8x8: no detail below the block size
    path = video.write_video(tmp_path / "blocks.mp4", frames, fps=25, crf=0)
    fast = video.read_frames(path, pixel_format="gray", size=(24, 16), fast=True)
    slow = video.read_frames(path, pixel_format="gray", size=(24, 16), fast=False)
    full = video.read_frames(path, pixel_format="gray", fast=False)
    assert fast.shape == slow.shape == (4, 16, 24) and fast.dtype == np.uint8
    area = full.reshape(4, 16, 4, 24, 4).astype(np.float64).mean(axis=(2, 4))
    assert np.abs(fast.astype(np.float64) - area).max() <= 2.0  # full-range luma, averaged over 4x4
    assert not np.array_equal(fast, slow)  # a different filter: analysis only, never output


def test_small_luma_full_range_and_other_formats_match_swscale_at_native_size() -> None:
    """At the frame's own size the area average is the identity: the luma plane, stretched from
    limited to full range unless the frame says full range, equals swscale's gray."""
    import av

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    for fmt in ("yuv420p", "yuvj420p", "yuv444p", "nv12", "rgb24"):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
        want = frame.to_ndarray(format="gray")
        got = video.small_luma(frame, 48, 32)
        assert got.shape == (32, 48) and got.dtype == np.uint8
        assert np.abs(got.astype(int) - want).max() <= 1, fmt  # rounding of the range stretch
