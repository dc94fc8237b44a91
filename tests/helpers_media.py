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
) -> Path:
    """Write a clip; ``pts`` (in ``time_base``, default 1/fps) gives variable frame timestamps."""
    path = Path(path)
    fmt = FORMATS[path.suffix]
    width, height = size
    codec = codec or {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(path.suffix, "libx264")
    with av.open(str(path), "w", format=fmt) as c:
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
            v.options = {"preset": "ultrafast", "crf": "20"}
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
