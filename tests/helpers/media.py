"""Small media files made with PyAV for the output-fidelity tests (no ffmpeg command needed).

:func:`make_clip` writes a short clip with moving colour bars and, on request, audio streams
(AAC, MP3, Vorbis, PCM...), a sample aspect ratio, a display-matrix rotation, variable frame
timestamps, an odd size, grey or 10-bit pixels, full range, in mp4/mkv/mov/webm/avi.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm", ".avi": "avi"}


def frame_rgb(i: int, width: int, height: int) -> np.ndarray:
    """Colour bars that move one step per frame, with a bright square (so frames differ)."""
    x = (np.arange(width)[None, :] + 3 * i) % width
    y = np.arange(height)[:, None]
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    rgb[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    rgb[..., 2] = 128
    s = max(2, min(width, height) // 4)
    x0 = (2 * i) % max(width - s, 1)
    rgb[:s, x0 : x0 + s] = 255
    return rgb


def make_clip(
    path: str | Path,
    *,
    n: int = 12,
    size: tuple[int, int] = (64, 48),
    fps: int = 25,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
    audio: Sequence[str] = (),
    sar: Fraction | None = None,
    rotation: int | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    colorspace: int | None = None,
    color_range: int | None = None,
    audio_rate: int = 44100,
    bframes: int = 0,
    faststart: bool = False,
) -> Path:
    """Write a clip; ``pts`` (in ``time_base``, default 1/fps) gives variable frame timestamps.

    ``bframes``: x264 B-frames (3 as phones and most encoders use; reordered, so packets carry a
    decode delay); ``faststart``: the MP4 index before the data, so a copy cut short still opens.
    """
    path = Path(path)
    fmt = FORMATS[path.suffix]
    width, height = size
    codec = codec or {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(path.suffix, "libx264")
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=options) as c:
        v = c.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            v.codec_context.time_base = time_base
            v.time_base = time_base
        if sar is not None:
            v.codec_context.sample_aspect_ratio = sar
            v.sample_aspect_ratio = sar
        if rotation is not None:
            v.set_display_rotation(rotation)
        if colorspace is not None:
            v.codec_context.colorspace = colorspace
            v.codec_context.color_primaries = colorspace
            v.codec_context.color_trc = colorspace
        if color_range is not None:
            v.codec_context.color_range = color_range
        if codec == "libx264":
            v.options = {"preset": "ultrafast", "crf": "20", "x264-params": f"bframes={bframes}:keyint=10"}
        elif codec == "libvpx-vp9":
            v.options = {"deadline": "realtime", "cpu-used": "8", "crf": "40", "b": "0"}
        streams = []
        for name in audio:
            a = c.add_stream(name, rate=audio_rate)
            a.layout = "stereo"
            if name == "vorbis":  # FFmpeg's own Vorbis encoder is marked experimental
                a.codec_context.options = {"strict": "experimental"}
            streams.append(a)
        tb = time_base or Fraction(1, fps)
        for i in range(n):
            rgb = frame_rgb(i, width, height)
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f = f.reformat(format=pix_fmt, dst_colorspace=colorspace, dst_color_range=color_range)
            if colorspace is not None:
                f.colorspace = colorspace
            if color_range is not None:
                f.color_range = color_range
            f.pts, f.time_base = (pts[i] if pts is not None else i), tb
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        duration = (pts[-1] * tb if pts is not None else Fraction(n, fps)) + Fraction(1, fps)
        for k, a in enumerate(streams):
            total = int(duration * audio_rate)
            t = np.arange(total) / audio_rate
            tone = (0.2 * np.sin(2 * np.pi * (440 + 110 * k) * t)).astype(np.float32)
            step = 1152 if a.codec_context.name == "libmp3lame" else 1024
            for s in range(0, total, step):
                chunk = tone[s : s + step]
                stereo = np.stack([chunk, chunk])
                af = av.AudioFrame.from_ndarray(stereo, format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = audio_rate, s, Fraction(1, audio_rate)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def count(path: str | Path) -> tuple[int, int, int]:
    """(frames the header declares, packets demuxed, frames decoded) of the first video stream, by PyAV alone."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        packets = decoded = 0
        for packet in c.demux(s):
            packets += packet.size > 0
            decoded += len(packet.decode())
        return int(s.frames), packets, decoded


def with_edit_list(src: str | Path, dst: str | Path, skip: int) -> Path:
    """Copy ``src`` (MP4/MOV) packet for packet, its video timestamps moved ``skip`` frames earlier, as
    ``ffmpeg -ss T -c copy`` does: the muxer writes an edit list that starts presentation at the old
    frame ``skip``, so the header still declares every frame while the first ``skip`` do not decode
    (or fewer, counted from the key frame before, when ``skip`` reaches past the first GOP).
    Audio, display matrix and other streams are copied as they are."""
    dst = Path(dst)
    with av.open(str(src)) as i, av.open(str(dst), "w", format=FORMATS[dst.suffix]) as o:
        outs = {s.index: o.add_stream_from_template(s) for s in i.streams if s.type in ("video", "audio")}
        video = i.streams.video[0]
        shift = int(round(skip / (video.average_rate * video.time_base)))
        for packet in i.demux(*[i.streams[k] for k in outs]):
            if packet.dts is None:
                continue
            if packet.stream.index == video.index:
                packet.pts -= shift
                packet.dts -= shift
            packet.stream = outs[packet.stream.index]
            o.mux(packet)
    return dst


def cut_short(src: str | Path, dst: str | Path, *, keep_packets: int, mid_packet: bool) -> Path:
    """The first bytes of ``src`` (a faststart MP4): up to the start of video packet ``keep_packets``
    (a copy that stopped at a packet boundary: no decoder error, only frames missing) or into the middle
    of it (``mid_packet``: the decoder meets a cut packet)."""
    with av.open(str(src)) as c:
        spans = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    pos, size = spans[keep_packets]
    end = pos + size // 2 if mid_packet else pos
    Path(dst).write_bytes(Path(src).read_bytes()[:end])
    return Path(dst)


def damage_packet(src: str | Path, dst: str | Path, k: int) -> Path:
    """A copy of ``src`` whose video packet ``k`` is overwritten with 0xff bytes (the decoder rejects it)."""
    with av.open(str(src)) as c:
        pos, size = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size][k]
    data = bytearray(Path(src).read_bytes())
    data[pos : pos + size] = b"\xff" * size
    Path(dst).write_bytes(bytes(data))
    return Path(dst)
