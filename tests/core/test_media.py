"""Output fidelity (issue 14, ask 2): what the colorized file keeps of its source, on small generated media.

Each test writes a clip with PyAV (helpers.media.make_clip), passes its frames through
:class:`scenecolor.core.media.MediaWriter` (inverted, as a colorizer would change them) and reads
the result back: audio streams, sample aspect ratio, rotation, frame timestamps, colour
description, exact size, container by output name, and atomic output.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from helpers.media import make_clip
from scenecolor.core import media
from scenecolor.core.encoding import Encoding
from scenecolor.core.errors import ParameterError


def _through(src: Path, out: Path) -> media.MediaWriter:
    """Every frame of ``src`` inverted into ``out`` at its own timestamp."""
    info = media.probe_media(src)
    with media.MediaWriter(out, info) as writer:
        for _, frame in media.iter_timed_frames(src):
            writer.write(255 - frame.rgb, frame.pts)
    return writer


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [round(float(f.pts * s.time_base), 4) for f in c.decode(s)]


def _audio(path: Path) -> list[tuple[str, int, int, float]]:
    """(codec, rate, channels, seconds) of each audio stream, from its packets."""
    out = []
    with av.open(str(path)) as c:
        streams = list(c.streams.audio)
        ends = {s.index: 0.0 for s in streams}
        for p in c.demux(*streams):
            if p.pts is not None and p.duration:
                ends[p.stream.index] = max(ends[p.stream.index], float((p.pts + p.duration) * p.time_base))
        for s in streams:
            out.append(
                (s.codec_context.name, s.codec_context.sample_rate, s.codec_context.channels, round(ends[s.index], 2))
            )
    return out


@pytest.mark.parametrize("codecs", [("aac",), ("libmp3lame",), ("libmp3lame", "aac")])
def test_audio_streams_are_copied_when_the_container_takes_them(tmp_path: Path, codecs: tuple[str, ...]) -> None:
    src = make_clip(tmp_path / "in.mp4", audio=codecs)
    writer = _through(src, tmp_path / "out.mp4")
    assert writer.report.audio == [f"copy {a[0]}" for a in _audio(src)]
    with av.open(str(src)) as a, av.open(str(tmp_path / "out.mp4")) as b:
        for sa, sb in zip(a.streams.audio, b.streams.audio):
            pa = [bytes(p) for p in a.demux(sa) if p.size]
            pb = [bytes(p) for p in b.demux(sb) if p.size]
            assert pa == pb  # bit for bit
    assert _audio(tmp_path / "out.mp4") == _audio(src)


@pytest.mark.parametrize("name,codec", [("in.mov", "pcm_s16le"), ("in.mkv", "vorbis")])
def test_audio_the_container_cannot_take_is_reencoded_to_aac(tmp_path: Path, name: str, codec: str) -> None:
    src = make_clip(tmp_path / name, audio=[codec])
    writer = _through(src, tmp_path / "out.mp4")
    assert writer.report.audio == [f"aac <- {codec}"]
    (got,) = _audio(tmp_path / "out.mp4")
    (want,) = _audio(src)
    assert got[0] == "aac" and got[1:3] == want[1:3]
    assert abs(got[3] - want[3]) < 0.1  # same length within an AAC frame or two


def test_sample_aspect_ratio_is_kept(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "pal.mp4", size=(88, 72), sar=Fraction(16, 11))
    _through(src, tmp_path / "out.mp4")
    out = media.probe_media(tmp_path / "out.mp4")
    assert out.sample_aspect_ratio == Fraction(16, 11)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(16, 11)  # container (pasp), not only the bitstream


@pytest.mark.parametrize("rotation", [90, -90])
def test_rotation_display_matrix_is_kept(tmp_path: Path, rotation: int) -> None:
    src = make_clip(tmp_path / "phone.mp4", size=(64, 48), rotation=rotation)
    _through(src, tmp_path / "out.mp4")
    a, b = media.probe_media(src), media.probe_media(tmp_path / "out.mp4")
    assert a.rotation == b.rotation == rotation
    assert b.display_matrix == a.display_matrix
    assert (b.width, b.height) == (64, 48)  # coded orientation kept; the player turns it, as it turns the input


def test_upright_and_back_are_inverse() -> None:
    frame = np.arange(2 * 3 * 2).reshape(2, 3, 2)
    for rotation in (0, 90, -90, 180):
        assert np.array_equal(media.from_upright(media.upright(frame, rotation), rotation), frame)
    assert media.upright(frame, 90).shape == (3, 2, 2)


def test_selected_frames_come_upright_in_order(tmp_path: Path) -> None:
    """A phone clip (display rotation 90) yields only the wanted frames, turned as a player shows them."""
    from scenecolor.core.video import iter_frames

    src = make_clip(tmp_path / "phone.mp4", n=12, size=(64, 48), rotation=90)
    coded = list(iter_frames(src))
    got = list(media.iter_upright_frames(src, {7, 2}))
    assert [n for n, _ in got] == [2, 7]
    for n, frame in got:
        assert frame.shape == (64, 48, 3) and frame.flags.c_contiguous
        assert np.array_equal(frame, np.rot90(coded[n]))
    assert [n for n, _ in media.iter_upright_frames(src, None, rotation=0)] == list(range(12))
    assert list(media.iter_upright_frames(src, set())) == []
    assert [n for n, _ in media.iter_upright_frames(src, {11, 40})] == [11]  # frames beyond the end are absent


def test_variable_frame_timestamps_are_kept(tmp_path: Path) -> None:
    pts = [0, 40, 80, 200, 240, 400, 410, 420, 500, 640, 700, 800]
    src = make_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 1000))
    for out in ("out.mp4", "out.mkv"):
        _through(src, tmp_path / out)
        assert _frame_times(tmp_path / out) == [p / 1000 for p in pts]


@pytest.mark.parametrize("size", [(63, 47), (64, 47), (31, 48)])
def test_odd_sizes_are_written_at_their_exact_size(tmp_path: Path, size: tuple[int, int]) -> None:
    src = make_clip(tmp_path / "odd.mkv", size=size, codec="ffv1", pix_fmt="yuv444p")
    writer = _through(src, tmp_path / "out.mp4")
    out = media.probe_media(tmp_path / "out.mp4")
    assert (out.width, out.height) == size and writer.pix_fmt == "yuv444p"
    frames = [f.rgb for _, f in media.iter_timed_frames(tmp_path / "out.mp4")]
    want = [255 - f.rgb.astype(int) for _, f in media.iter_timed_frames(src)]
    assert len(frames) == len(want) and np.abs(frames[3] - want[3]).mean() < 6


def test_even_sizes_stay_420(tmp_path: Path) -> None:
    writer = _through(make_clip(tmp_path / "in.mp4"), tmp_path / "out.mp4")
    assert writer.pix_fmt == "yuv420p" and media.probe_media(tmp_path / "out.mp4").pix_fmt == "yuv420p"


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("in.mkv", {}),
        ("in.webm", {"audio": ["libopus"], "audio_rate": 48000}),
        ("in.mov", {"audio": ["aac"]}),
        ("in.avi", {"audio": ["libmp3lame"]}),
        ("grey.mkv", {"codec": "ffv1", "pix_fmt": "gray"}),
        ("ten.mkv", {"pix_fmt": "yuv420p10le"}),
    ],
)
def test_any_decodable_input_is_accepted(tmp_path: Path, name: str, kwargs: dict) -> None:
    src = make_clip(tmp_path / name, **kwargs)
    _through(src, tmp_path / "out.mp4")
    a, b = media.probe_media(src), media.probe_media(tmp_path / "out.mp4")
    assert (b.width, b.height, b.pix_fmt) == (a.width, a.height, "yuv420p")
    assert len(_frame_times(tmp_path / "out.mp4")) == len(_frame_times(src)) == 12
    assert len(b.audio) == len(a.audio)
    if name == "grey.mkv":  # grey in, colour frames out (here: inverted grey, still neutral)
        rgb = next(f.rgb for _, f in media.iter_timed_frames(tmp_path / "out.mp4"))
        assert rgb.shape[2] == 3


@pytest.mark.parametrize("suffix,fmt", [(".mkv", "matroska"), (".mov", "mov"), (".mp4", "mov,mp4")])
def test_output_name_chooses_the_container(tmp_path: Path, suffix: str, fmt: str) -> None:
    src = make_clip(tmp_path / "in.mp4", audio=["aac"])
    _through(src, tmp_path / f"out{suffix}")
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        assert c.format.name.startswith(fmt.split(",")[0]) and len(c.streams.audio) == 1


def test_unknown_output_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"\.mkv"):
        media.container_for(tmp_path / "out.gif")


@pytest.mark.parametrize("colorspace,color_range", [(1, 1), (1, 2), (6, 1)])
def test_colour_description_is_kept(tmp_path: Path, colorspace: int, color_range: int) -> None:
    src = make_clip(tmp_path / "in.mp4", colorspace=colorspace, color_range=color_range)
    _through(src, tmp_path / "out.mp4")
    a, b = media.probe_media(src), media.probe_media(tmp_path / "out.mp4")
    assert (b.colorspace, b.color_range, b.color_primaries, b.color_trc) == (
        a.colorspace,
        a.color_range,
        a.color_primaries,
        a.color_trc,
    )


def test_full_range_input_round_trips_its_levels(tmp_path: Path) -> None:
    """Full-range input is read as full range and written back as full range: levels do not shift."""
    src = make_clip(tmp_path / "full.mp4", colorspace=1, color_range=2)
    info = media.probe_media(src)
    with media.MediaWriter(tmp_path / "out.mp4", info) as writer:
        for _, f in media.iter_timed_frames(src):
            writer.write(f.rgb, f.pts)
    a = np.stack([f.rgb for _, f in media.iter_timed_frames(src)]).astype(int)
    b = np.stack([f.rgb for _, f in media.iter_timed_frames(tmp_path / "out.mp4")]).astype(int)
    assert abs(a.mean() - b.mean()) < 1.5 and np.abs(a - b).mean() < 4


def test_failed_write_keeps_the_previous_output_and_leaves_nothing(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", audio=["aac"])
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    out.write_bytes(b"an earlier result")
    with pytest.raises(RuntimeError):
        with media.MediaWriter(out, media.probe_media(src)) as writer:
            for n, f in media.iter_timed_frames(src):
                writer.write(f.rgb, f.pts)
                if n == 5:
                    raise RuntimeError("colorizer crashed")
    assert out.read_bytes() == b"an earlier result"
    assert [p.name for p in out.parent.iterdir()] == ["o.mp4"]


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path: Path) -> None:
    final = tmp_path / "o.mp4"
    stale = tmp_path / ".o.scenecolor-999999999.tmp.mp4"  # no such process
    live = tmp_path / f".o.scenecolor-{__import__('os').getpid()}.tmp.mp4"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    assert media.remove_stale_temps(final) == [stale]
    assert live.exists()


_KILL_SCRIPT = """
import signal, sys, time
# a shell starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt handler:
# restore it, as in a terminal where Ctrl-C is pressed
signal.signal(signal.SIGINT, signal.default_int_handler)
from scenecolor.core import media
src, out = sys.argv[1], sys.argv[2]
info = media.probe_media(src)
with media.MediaWriter(out, info) as w:
    for n, f in media.iter_timed_frames(src):
        w.write(f.rgb, f.pts)
        if n == 3:
            print("writing", flush=True)
            time.sleep(60)
"""


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_a_killed_writer_leaves_no_partial_file(tmp_path: Path, sig: str) -> None:
    import os
    import signal
    import subprocess

    src = make_clip(tmp_path / "in.mp4", audio=["aac"])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.mp4"
    out.write_bytes(b"an earlier result")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(media.__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(src), str(out)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert out.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in out_dir.iterdir()) == ["o.mp4"]


def test_container_tags_travel_with_the_video(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mkv")
    tagged = tmp_path / "tagged.mov"
    with av.open(str(src)) as a, av.open(str(tagged), "w") as b:
        b.metadata["creation_time"] = "2024-05-01T10:00:00.000000Z"
        b.metadata["title"] = "holiday"
        v = b.add_stream_from_template(a.streams.video[0])
        for packet in a.demux(a.streams.video[0]):
            if packet.size:
                packet.stream = v
                b.mux(packet)
    _through(tagged, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert (
            c.metadata.get("creation_time", "").startswith("2024-05-01T10:00:00")
            and c.metadata.get("title") == "holiday"
        )


def test_frame_times_are_ffmpegs_best_effort() -> None:
    """Monotonic pts are kept; pts that run backwards give way to dts; AVI uses its dts (display times)."""
    clock = media._BestEffortClock()
    assert [clock(p, d) for p, d in [(0, None), (40, 0), (80, 40), (200, 80)]] == [0, 40, 80, 200]
    clock = media._BestEffortClock()
    times = [clock(p, d) for p, d in [(1, 1), (2, 2), (4, 3), (3, 4), (5, 5), (7, 6), (6, 7)]]
    assert times[3:] == [4, 5, 6, 7]  # once the pts went backwards, the dts are believed
    avi = media._BestEffortClock(prefer_dts=True)
    assert [avi(p, d) for p, d in [(1, 1), (4, 2), (3, 3), (164, None)]] == [1, 2, 3, 164]


def _planes_of(path: Path) -> list[tuple[np.ndarray, ...]]:
    """Every frame's Y, Cb, Cr planes as decoded, without any conversion."""
    with av.open(str(path)) as c:
        return [tuple(p.copy() for p in media._planes(f)) for f in c.decode(video=0)]


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("in.mp4", {"colorspace": 1, "color_range": 1}),  # H.264 4:2:0, BT.709 limited
        ("full.mp4", {"colorspace": 1, "color_range": 2}),  # full range
        ("odd.mkv", {"size": (63, 47), "codec": "ffv1"}),  # odd sides: 4:2:0 in, 4:4:4 out
        ("oddh.mkv", {"size": (64, 47), "codec": "ffv1", "pix_fmt": "yuv444p"}),
    ],
)
def test_yuv_frames_reach_the_encoder_unchanged(tmp_path: Path, name: str, kwargs: dict) -> None:
    """iter_yuv_frames -> write_yuv, encoded losslessly (crf 0): the output's Y planes are the input's bit
    for bit, and its Cb/Cr too where the layout is the same; timestamps and tags are kept."""
    src = make_clip(tmp_path / name, **kwargs)
    info = media.probe_media(src)
    with media.MediaWriter(tmp_path / "out.mkv", info, encoding=Encoding(crf=0)) as writer:
        for f in media.iter_yuv_frames(src, info):
            assert f.y.shape == (info.height, info.width) and f.u.shape == f.v.shape
            writer.write_yuv(f.y, f.u, f.v, f.pts)
    a, b = _planes_of(src), _planes_of(tmp_path / "out.mkv")
    assert len(a) == len(b) == 12
    assert all(np.array_equal(pa[0], pb[0]) for pa, pb in zip(a, b))
    out = media.probe_media(tmp_path / "out.mkv")
    assert (out.width, out.height, out.color_range, out.colorspace) == (
        info.width,
        info.height,
        info.color_range,
        info.colorspace,
    )
    assert out.pix_fmt.replace("yuvj", "yuv") == media.output_pix_fmt(info.width, info.height)  # yuvj: full range
    if info.pix_fmt == out.pix_fmt:
        assert all(np.array_equal(pa[1], pb[1]) and np.array_equal(pa[2], pb[2]) for pa, pb in zip(a, b))
    assert _frame_times(tmp_path / "out.mkv") == _frame_times(src)


@pytest.mark.parametrize("colorspace,color_range", [(1, 1), (1, 2), (6, 1), (None, None)])
def test_rgb_to_output_yuv_is_the_writers_conversion(tmp_path: Path, colorspace, color_range) -> None:
    """The planes rgb_to_output_yuv gives for an RGB frame are those write() encodes (same matrix and range):
    BT.709 or BT.601, limited or full, unspecified read as BT.601 limited."""
    src = make_clip(tmp_path / "in.mp4", colorspace=colorspace, color_range=color_range)
    info = media.probe_media(src)
    rgb = next(f.rgb for _, f in media.iter_timed_frames(src))
    with media.MediaWriter(tmp_path / "out.mkv", info, encoding=Encoding(crf=0)) as writer:
        writer.write(rgb)
    y, u, v = media.rgb_to_output_yuv(rgb, info, "yuv420p")
    written = _planes_of(tmp_path / "out.mkv")[0]
    assert np.array_equal(written[0], y) and np.array_equal(written[1], u) and np.array_equal(written[2], v)
    y444, u444, _ = media.rgb_to_output_yuv(rgb, info)
    assert np.array_equal(y444, y) and u444.shape == y.shape
    assert np.abs(u444[::2, ::2].astype(int) - u).mean() < 3  # 4:4:4 chroma subsampled is the 4:2:0 chroma


def test_write_yuv_refuses_planes_of_the_wrong_shape_or_type(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4")
    info = media.probe_media(src)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    y = np.zeros((48, 64), np.uint8)
    with pytest.raises(ValueError, match=r"plane u must be uint8 of shape \(24, 32\)"):
        with media.MediaWriter(out, info) as writer:
            writer.write_yuv(y, np.zeros((48, 64), np.uint8), np.zeros((24, 32), np.uint8))
    with pytest.raises(ValueError, match="plane y must be uint8"):
        with media.MediaWriter(out, info) as writer:
            writer.write_yuv(y.astype(np.float32), np.zeros((24, 32), np.uint8), np.zeros((24, 32), np.uint8))
    assert out.read_bytes() == b"an earlier result"


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("in.mp4", {"size": (96, 72), "colorspace": 1, "color_range": 1}),  # H.264 4:2:0, BT.709 limited
        ("full.mp4", {"size": (96, 72), "colorspace": 1, "color_range": 2}),  # full range
        ("p601.mp4", {"size": (96, 72)}),  # untagged: BT.601 limited
        ("odd.mkv", {"size": (63, 47), "codec": "ffv1"}),  # odd sides: 4:4:4 out
    ],
)
def test_one_decode_gives_the_planes_and_the_working_frame(tmp_path: Path, name: str, kwargs: dict) -> None:
    """iter_yuv_frames(small=(h, w)): the planes are those of the plain iterator, bit for bit, and each frame's
    working RGB is the old two-step result (full-resolution RGB, then cv2 area resize) within 6 levels at the
    99th percentile and 1.5 on average (averaging before the RGB conversion clips saturated edges differently);
    at the frame's own size it is the full decode's RGB exactly."""
    src = make_clip(tmp_path / name, **kwargs)
    info = media.probe_media(src)
    h, w = info.height // 3, info.width // 3
    plain = [tuple(p.copy() for p in (f.y, f.u, f.v)) + (f.pts,) for f in media.iter_yuv_frames(src, info)]
    both = list(media.iter_yuv_frames(src, info, small=(h, w)))
    old = [cv2.resize(t.rgb, (w, h), interpolation=cv2.INTER_AREA) for _, t in media.iter_timed_frames(src)]
    assert len(both) == len(plain) == len(old) == 12
    for f, p in zip(both, plain):
        assert all(np.array_equal(a, b) for a, b in zip((f.y, f.u, f.v), p[:3])) and f.pts == p[3]
        assert f.small is not None and f.small.shape == (h, w, 3) and f.small.dtype == np.uint8
    diff = np.stack([f.small for f in both]).astype(int) - np.stack(old)
    assert np.percentile(np.abs(diff), 99) <= 6 and np.abs(diff).mean() <= 1.5 and abs(diff.mean()) <= 1.5
    full = media.iter_yuv_frames(src, info, small=(info.height, info.width))
    assert all(np.array_equal(f.small, t.rgb) for f, (_, t) in zip(full, media.iter_timed_frames(src)))
    assert all(f.small is None for f in media.iter_yuv_frames(src, info))
