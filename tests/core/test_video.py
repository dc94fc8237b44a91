"""Video IO: probe, streaming decode, atomic writer, and one clear error per kind of bad file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from helpers.media import count, cut_short, damage_packet, make_clip, with_edit_list
from scenecolor.core import media, video
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


# -- header counts are hints: edit lists and B-frames; files cut short or damaged -------------------------------


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """B-frame clips as phones write them; two edit-list copies; a faststart clip cut short or damaged."""
    d = tmp_path_factory.mktemp("footage")
    src = make_clip(d / "bframes.mp4", n=30, bframes=3)
    fs = make_clip(d / "faststart.mp4", n=30, bframes=3, faststart=True)
    clips = {
        "bframes": src,
        "edit": with_edit_list(src, d / "edit.mp4", 2),
        "edit_gop": with_edit_list(src, d / "edit_gop.mp4", 12),  # past the first key frame: packets dropped too
        "cut": cut_short(fs, d / "cut.mp4", keep_packets=20, mid_packet=False),
        "cut_mid": cut_short(fs, d / "cut_mid.mp4", keep_packets=20, mid_packet=True),
        "damaged": damage_packet(fs, d / "damaged.mp4", 15),
    }
    # the clips are what they claim to be, by PyAV alone: (declared, packets, decoded)
    assert count(clips["bframes"]) == (30, 30, 30)
    assert count(clips["edit"]) == (30, 30, 28)
    assert count(clips["edit_gop"]) == (30, 20, 18)
    assert count(clips["cut"]) == (30, 20, 20)
    return clips


@pytest.mark.parametrize("name, decoded", [("edit", 28), ("edit_gop", 18)])
def test_an_edit_list_is_a_warning_and_the_decoded_frames_count(footage, name: str, decoded: int) -> None:
    path = footage[name]
    assert video.probe(path).n_frames == 30  # the header's hint
    tally = video.DecodeTally()
    with pytest.warns(video.FrameCountWarning, match=f"declares 30 frames and {decoded} decode"):
        frames = list(video.iter_frames(path, pixel_format="gray", step=4, tally=tally))
    assert len(frames) == len(range(0, decoded, 4)) and (tally.declared, tally.decoded) == (30, decoded)
    with pytest.warns(video.FrameCountWarning):
        assert video.count_frames(path) == decoded
    with pytest.warns(video.FrameCountWarning):
        assert [n for n, _ in media.iter_timed_frames(path)] == list(range(decoded))


def test_b_frames_decode_every_frame_without_warning(footage) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert video.count_frames(footage["bframes"]) == 30
        assert len(video.read_frames(footage["bframes"], size=(16, 16))) == 30


@pytest.mark.parametrize(
    "name, message",
    [
        ("cut", r"truncated video '.*cut.mp4': frames stop at 0.80 s of the 1.20 s .*\(20 frames decoded of 30"),
        ("cut_mid", r"cut_mid.mp4.*\d+ frames decoded"),
        ("damaged", r"corrupt video '.*damaged.mp4': decoding failed after \d+ frames decoded"),
    ],
)
def test_a_file_cut_short_or_damaged_is_an_error_that_counts_what_decoded(footage, name: str, message: str) -> None:
    with pytest.raises(CorruptVideoError, match=message):
        list(video.iter_frames(footage[name], pixel_format="gray"))
    with pytest.raises(CorruptVideoError, match=message):
        list(media.iter_timed_frames(footage[name]))
