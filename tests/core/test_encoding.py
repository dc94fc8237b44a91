"""Output quality is the user's choice: ``--crf N`` and ``--lossless x264|ffv1`` reach the writers, each writes what it
says (decoded frames checked against the input), and every bad value is refused naming the flag and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from skimage import data as skdata

from helpers.media import make_clip
from scenecolor.cli import main
from scenecolor.core import media
from scenecolor.core.encoding import DEFAULT_CRF, Encoding
from scenecolor.core.errors import ParameterError
from scenecolor.core.video import read_frames, write_video
from scenecolor.evaluate import metrics as M
from scenecolor.workbook import batch


def _noisy_frames(n: int = 5, size: tuple[int, int] = (48, 64), seed: int = 0) -> list[np.ndarray]:
    """Random colour noise: the hardest content for a lossy coder, so any loss shows."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def _write(src: Path, out: Path, frames: list[np.ndarray], encoding: Encoding) -> media.MediaWriter:
    with media.MediaWriter(out, media.probe_media(src), encoding=encoding) as writer:
        for f in frames:
            writer.write(f)
    return writer


def _yuv444_round_trip(rgb: np.ndarray, info: media.MediaInfo) -> np.ndarray:
    """``rgb`` -> YUV 4:4:4 with the source's matrix and range -> RGB, as FFmpeg converts it."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv444p", dst_colorspace=info.colorspace, dst_color_range=info.color_range or None
    )
    frame.colorspace, frame.color_range = info.colorspace, info.color_range
    return media._to_rgb(frame)


def _x264_settings(path: Path) -> str:
    """The settings x264 writes into its stream (an SEI message: '... crf=20.0 ...' or '... qp=0 ...')."""
    data = path.read_bytes()
    start = data.index(b"x264 - core")
    return data[start : data.index(b"\x00", start)].decode("ascii", "replace")


def test_default_is_the_measured_crf() -> None:
    assert Encoding() == Encoding(crf=DEFAULT_CRF) and Encoding().lossless is None


@pytest.mark.parametrize("crf", [12, 23, 40])
def test_crf_reaches_the_encoder_and_sets_the_loss(tmp_path: Path, crf: int) -> None:
    src = make_clip(tmp_path / "in.mp4")
    frames = _noisy_frames()
    writer = _write(src, tmp_path / "out.mp4", frames, Encoding(crf=crf))
    assert writer.pix_fmt == "yuv420p" and re.search(rf"\bcrf={crf}\.0\b", _x264_settings(tmp_path / "out.mp4"))
    got = np.stack([t.rgb for _, t in media.iter_timed_frames(tmp_path / "out.mp4")])
    assert len(got) == len(frames)
    psnr = M.finite_mean(M.psnr(np.stack(frames), got))
    assert 5.0 < psnr < 40.0  # noise through 4:2:0 is never near lossless


def test_a_lower_crf_keeps_more(tmp_path: Path) -> None:
    photo = cv2.resize(skdata.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)
    frames = np.stack([np.ascontiguousarray(photo[4 * k : 4 * k + 96, 2 * k : 2 * k + 128]) for k in range(6)])
    scores, sizes = [], []
    for crf in (10, 30):
        path = write_video(tmp_path / f"c{crf}.mp4", frames, 25.0, encoding=Encoding(crf=crf))
        scores.append(M.finite_mean(M.psnr(frames, read_frames(path))))
        sizes.append(path.stat().st_size)
    assert scores[0] > scores[1] + 1.0 and sizes[0] > sizes[1]


@pytest.mark.parametrize("colorspace,color_range", [(None, None), (1, 1), (1, 2), (5, 1)])
def test_x264_lossless_keeps_the_yuv444_round_trip_exactly(
    tmp_path: Path, colorspace: int | None, color_range: int | None
) -> None:
    src = make_clip(tmp_path / "in.mp4", colorspace=colorspace, color_range=color_range)
    info = media.probe_media(src)
    frames = _noisy_frames()
    writer = _write(src, tmp_path / "out.mp4", frames, Encoding(lossless="x264"))
    assert writer.pix_fmt == "yuv444p" and re.search(r"\brc=cqp\b.*\bqp=0\b", _x264_settings(tmp_path / "out.mp4"))
    got = [t.rgb.astype(int) for _, t in media.iter_timed_frames(tmp_path / "out.mp4")]
    assert len(got) == len(frames)
    for frame, back in zip(frames, got):
        assert np.abs(back - _yuv444_round_trip(frame, info)).max() <= 1
        assert np.abs(back - frame).max() <= 2  # the RGB <-> YUV conversion alone


def test_ffv1_is_bit_exact_in_matroska(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", colorspace=1, color_range=1)
    frames = _noisy_frames()
    _write(src, tmp_path / "out.mkv", frames, Encoding(lossless="ffv1"))
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.format.name.startswith("matroska") and c.streams.video[0].codec_context.name == "ffv1"
    got = [t.rgb for _, t in media.iter_timed_frames(tmp_path / "out.mkv")]
    assert len(got) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, got))
    # the simple writer too (the evaluation writes its outputs with it)
    path = write_video(tmp_path / "simple.mkv", np.stack(frames), 25.0, encoding=Encoding(lossless="ffv1"))
    assert np.array_equal(read_frames(path), np.stack(frames))


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"crf": -1}, ["crf -1", "0..51"]),
        ({"crf": 52}, ["crf 52", "0..51"]),
        ({"crf": 18.5}, ["crf 18.5", "whole number"]),
        ({"crf": True}, ["crf True", "0..51"]),
        ({"lossless": "png"}, ["lossless 'png'", "x264", "ffv1"]),
        ({"crf": 20, "lossless": "x264"}, ["crf 20", "lossless mode x264", "drop one"]),
    ],
)
def test_bad_encodings_are_refused_naming_the_value_and_the_fix(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ParameterError) as err:
        Encoding(**kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert str(err.value).startswith(err.value.parameter) and "--" not in str(err.value)  # the CLI words the flag


@pytest.mark.parametrize("name", ["out.mp4", "out.mov", "out.m4v"])
def test_ffv1_outside_matroska_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    src = make_clip(tmp_path / "in.mp4")
    out = tmp_path / name
    out.write_bytes(b"an earlier result")
    with pytest.raises(ParameterError) as err:
        _write(src, out, _noisy_frames(), Encoding(lossless="ffv1"))
    assert "name the output 'out.mkv'" in str(err.value) and "lossless mode x264" in str(err.value)
    assert out.read_bytes() == b"an earlier result"
    with pytest.raises(ParameterError, match="simple.mkv"):
        write_video(tmp_path / "simple.mp4", np.stack(_noisy_frames()), 25.0, encoding=Encoding(lossless="ffv1"))


def test_colorize_refuses_bad_encoding_flags_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "o.mp4"
    cases = [
        (["--crf", "60"], "--crf 60 is out of range"),
        (["--lossless", "ffv1"], "name the output 'o.mkv'"),
        (["--crf", "20", "--lossless", "x264"], "exclude each other"),
    ]
    for flags, message in cases:
        code = main(["colorize", str(src), "--out", str(out), "--run", str(tmp_path / "no-run"), *flags])
        assert code == 2 and message in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):  # an unknown mode is refused by the parser, naming the choices
        main(["colorize", str(src), "--out", str(out), "--lossless", "png"])
    assert "invalid choice: 'png'" in capsys.readouterr().err


def test_folder_runs_record_the_encoding_so_a_changed_crf_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "run_key", lambda run, backend="torch": "k")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"video")
    (default,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path)
    (crf20,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, encoding=Encoding(crf=20))
    (ffv1,) = batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, ext=".mkv", encoding=Encoding(lossless="ffv1"))
    assert default.options["encoding"] == {"crf": DEFAULT_CRF, "lossless": None}
    assert crf20.options["encoding"] == {"crf": 20, "lossless": None}
    assert ffv1.options["encoding"] == {"crf": None, "lossless": "ffv1"}
    sha = "0" * 64
    (tmp_path / "out").mkdir()
    Path(default.out).write_bytes(b"colorized")
    batch.atomic_write_json(
        batch.sidecar_path(default.out),
        {**batch._ledger_entry(default, sha), "output_bytes": len(b"colorized")},
    )
    assert batch.already_done(default, sha) and not batch.already_done(crf20, sha)
    assert Encoding(**crf20.options["encoding"]) == Encoding(crf=20)  # what the worker rebuilds
    with pytest.raises(ParameterError, match="--ext .mkv"):
        batch.plan(tmp_path / "in", tmp_path / "out", tmp_path, encoding=Encoding(lossless="ffv1"))
