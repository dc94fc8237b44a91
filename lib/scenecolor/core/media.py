"""Faithful media output: what a player needs to show the colorized video as it shows the input.

:class:`MediaWriter` writes new RGB frames into a file that keeps, from the source file:

- every audio stream, copied packet for packet when the output container accepts the codec
  (checked with FFmpeg's muxer itself, not a table), re-encoded to AAC otherwise;
- the frame timestamps (each frame's pts in the source stream's time base, so variable-frame-rate
  input keeps its timing; frames without a timestamp get ``n / fps``);
- the sample aspect ratio (codec VUI and container ``pasp``), the display matrix (rotation and
  flips, so a player turns it upright exactly as it turns the input) and the colour description
  (matrix, range, primaries, transfer): RGB is converted back to YUV with the source's own matrix
  and range, the conversion the decoder used the other way;
- the exact frame size. H.264 4:2:0 crops in two-pixel units, so an odd side cannot be coded at
  4:2:0 at all; odd sizes are coded 4:4:4 (High 4:4:4 profile) instead of padding or cropping, so
  the output has the input's size and no pixel is invented or lost. Even sizes keep 4:2:0, which
  every player and browser decodes.

How the frames are coded is the caller's choice, :class:`scenecolor.core.encoding.Encoding`: H.264 at a
constant rate factor (``crf``), or lossless (``lossless='x264'``: H.264 qp 0 in 4:4:4, any container;
``lossless='ffv1'``: FFV1 as RGB, bit-exact, Matroska only; frames stored as RGB are tagged so).

The container follows the output name: ``.mp4``/``.m4v`` (MP4), ``.mov`` (QuickTime), ``.mkv``
(Matroska). Any input FFmpeg decodes is accepted (mkv, mov, avi, webm; 10-bit, grey): frames are
handed over as 8-bit RGB.

The output appears under its name only once complete: it is written to an unnamed file
(``O_TMPFILE``) in the output folder and linked into place at the end, so neither Ctrl-C nor a
``kill -9`` leaves a partial file behind, and an earlier output stays intact until replaced.
Memory is bounded: one frame in flight, audio muxed as the video advances (no buffering of the
audio track), the encoder's fixed lookahead.

Frames go in as RGB (:meth:`MediaWriter.write`) or as Y, Cb, Cr planes already in the output's layout
(:meth:`MediaWriter.write_yuv`, fed by :func:`iter_yuv_frames`): the second way keeps a decoded
frame's own luma plane bit for bit and skips both RGB conversions of a full-resolution frame.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import cv2
import numpy as np

from scenecolor.core.encoding import Encoding
from scenecolor.core.errors import CorruptVideoError, EmptyVideoError, ParameterError, VideoError
from scenecolor.core.video import DecodeTally, decoded_frames, open_container, pick_codec

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
AUDIO_FALLBACK = "aac"
# Audio codecs copied as they are into MP4 / QuickTime (decoder names as PyAV reports them); others become AAC.
STANDARD_AUDIO = {
    "mp4": {
        "aac",
        "aac_latm",
        "mp3",
        "mp3float",
        "mp2",
        "mp2float",
        "ac3",
        "ac3_fixed",
        "eac3",
        "alac",
        "opus",
        "libopus",
        "flac",
    },
    "mov": {"aac", "mp3", "mp3float", "mp2", "mp2float", "ac3", "ac3_fixed", "eac3", "alac"},  # + pcm_*
}
JPEG_RANGE = 2  # AVCOL_RANGE_JPEG: full range
RGB_MATRIX = 0  # AVCOL_SPC_RGB: the planes are R, G, B (no YUV matrix)
_NOT_COPIED_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "duration"}


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a file."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    language: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    """What the output must keep of the source (first video stream + all audio streams)."""

    path: str
    container: str
    width: int
    height: int
    fps: float
    n_frames: int  # as declared by the container (0 when it does not say): a hint, frames are counted by decoding
    codec: str
    pix_fmt: str
    time_base: Fraction
    sample_aspect_ratio: Fraction | None
    display_matrix: tuple[int, ...] | None  # the 9 int32 of AV_PKT_DATA_DISPLAYMATRIX
    rotation: int  # degrees counter-clockwise, as FFmpeg reports it (0 when no matrix)
    colorspace: int  # AVColorSpace (1 BT709, 5/6 BT601, 9 BT2020, 2 unspecified)
    color_range: int  # AVColorRange (1 limited, 2 full, 0 unspecified)
    color_primaries: int
    color_trc: int
    audio: tuple[AudioTrack, ...] = ()
    start_time: float | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["time_base"] = str(self.time_base)
        d["sample_aspect_ratio"] = str(self.sample_aspect_ratio) if self.sample_aspect_ratio else None
        return d


def _matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    for sd in iter(frame.side_data):
        if "DISPLAYMATRIX" in str(sd.type):
            raw = bytes(sd)
            if len(raw) >= 36:
                return tuple(struct.unpack("<9i", raw[:36]))
    return None


def probe_media(path: str | os.PathLike[str]) -> MediaInfo:
    """Probe the video stream (decoding its first frame for the display matrix and colour tags) and the audio."""
    p = Path(path)
    with open_container(p) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        try:
            first = next(iter(container.decode(stream)), None)
        except av.error.FFmpegError as exc:
            raise CorruptVideoError(
                f"corrupt video '{p}': its first frame does not decode ({exc.__class__.__name__})"
            ) from exc
        if first is None:
            raise EmptyVideoError(f"video '{p}' holds no decodable frame (re-encode it or pick another file)")
        rate = stream.average_rate or stream.guessed_rate or Fraction(25, 1)
        sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
        matrix = _matrix(first)
        audio = tuple(
            AudioTrack(
                index=int(a.index),
                codec=str(a.codec_context.name),
                sample_rate=int(a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
                language=a.metadata.get("language"),
            )
            for a in container.streams.audio
        )
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else None
        return MediaInfo(
            path=str(p),
            container=str(container.format.name),
            width=int(first.width),
            height=int(first.height),
            fps=float(rate),
            n_frames=int(stream.frames or 0),
            codec=str(ctx.name),
            pix_fmt=str(first.format.name),
            time_base=Fraction(stream.time_base or Fraction(1, 90000)),
            sample_aspect_ratio=Fraction(sar) if sar and Fraction(sar) != 0 else None,
            display_matrix=matrix,
            rotation=int(round(first.rotation)) if matrix is not None else 0,
            colorspace=int(first.colorspace),
            color_range=int(first.color_range),
            color_primaries=int(first.color_primaries),
            color_trc=int(first.color_trc),
            audio=audio,
            start_time=start,
        )


@dataclass(frozen=True)
class TimedFrame:
    """A decoded frame as 8-bit RGB and its timestamp in the stream's time base (None if it had none)."""

    rgb: np.ndarray
    pts: int | None


@dataclass(frozen=True)
class YuvFrame:
    """A decoded frame as the output's planes (:func:`output_pix_fmt`: 4:2:0, or 4:4:4 for odd sizes),
    in the source's matrix and range, and its timestamp (None if it had none).

    ``y`` is (H, W) uint8; ``u`` and ``v`` (Cb, Cr) are (ceil(H/2), ceil(W/2)) uint8 at 4:2:0, (H, W) at 4:4:4.
    ``small`` is the same frame as RGB uint8 (h, w, 3) at a working size (:func:`iter_yuv_frames` ``small``), or None.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pts: int | None
    small: np.ndarray | None = None


def output_pix_fmt(width: int, height: int) -> str:
    """The pixel format :class:`MediaWriter` codes a ``width`` x ``height`` video in (odd sides: 4:4:4)."""
    return "yuv444p" if width % 2 or height % 2 else "yuv420p"


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    # The frame's own matrix and range (a full-range frame would otherwise be read as limited range).
    rng = JPEG_RANGE if int(frame.color_range) == JPEG_RANGE else None
    return frame.reformat(format="rgb24", src_color_range=rng, dst_color_range=JPEG_RANGE).to_ndarray()


def _planes(frame: av.VideoFrame) -> tuple[np.ndarray, ...]:
    """A planar 8-bit frame's planes as (height, width) views (the line padding cut off)."""
    return tuple(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes)


def _to_output_yuv(frame: av.VideoFrame, pix_fmt: str, source: MediaInfo) -> av.VideoFrame:
    """The decoded frame in the output's pixel format and range: the frame itself when it already is
    (the usual 8-bit 4:2:0 input: no conversion, its planes go to the encoder untouched)."""
    if frame.format.name == pix_fmt and int(frame.color_range) == source.color_range:
        return frame
    rng = JPEG_RANGE if int(frame.color_range) == JPEG_RANGE else None
    return frame.reformat(
        format=pix_fmt,
        src_color_range=rng,
        dst_colorspace=source.colorspace,
        dst_color_range=source.color_range or None,
    )


def rgb_to_output_yuv(rgb: np.ndarray, source: MediaInfo, pix_fmt: str = "yuv444p") -> tuple[np.ndarray, ...]:
    """(H, W, 3) uint8 RGB -> its Y, Cb, Cr planes, uint8, with the conversion :meth:`MediaWriter.write`
    applies (FFmpeg's, with the source's matrix - BT.601 when unspecified - and range)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return _planes(_rgb_frame_to_yuv(frame, source, pix_fmt))


def _rgb_frame_to_yuv(frame: av.VideoFrame, source: MediaInfo, pix_fmt: str) -> av.VideoFrame:
    return frame.reformat(
        format=pix_fmt,
        dst_colorspace=source.colorspace,
        dst_color_range=source.color_range or None,
    )


class _BestEffortClock:
    """FFmpeg's ``guess_correct_pts``: a frame's pts, or its dts when the pts run backwards more often.

    AVI files with packed B-frames hand out pts in decode order (1, 2, 4, 3, ...); their dts are the
    display times. Whichever of the two has gone backwards less often so far is believed.
    """

    def __init__(self, prefer_dts: bool = False) -> None:
        self.prefer_dts = prefer_dts  # AVI: no real pts, its dts are the display times
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if self.prefer_dts and dts is not None:
            return dts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


def _decoded(
    path: str | os.PathLike[str], tally: DecodeTally | None = None
) -> Iterator[tuple[av.VideoFrame, int | None]]:
    """Every decoded frame with its best-effort timestamp; errors name the file (a header frame count that
    differs from the decoded one is a warning; ``tally`` receives both)."""
    p = Path(path)
    with open_container(p) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        clock = _BestEffortClock(prefer_dts=container.format.name == "avi")
        for frame in decoded_frames(container, stream, p, tally if tally is not None else DecodeTally()):
            yield frame, clock(frame.pts, frame.dts)


def iter_timed_frames(
    path: str | os.PathLike[str], *, wanted: set[int] | None = None, tally: DecodeTally | None = None
) -> Iterator[tuple[int, TimedFrame | None]]:
    """Yield ``(n, TimedFrame)`` for every decoded frame (or ``(n, None)`` for frames not in ``wanted``).

    Only the frames in ``wanted`` (all when None) are converted to RGB. Errors name the file, as
    :func:`scenecolor.core.video.iter_frames` does (a header frame count that differs from the
    decoded one is a warning; ``tally`` receives both). Timestamps are FFmpeg's best effort (see
    :class:`_BestEffortClock`).
    """
    for n, (frame, pts) in enumerate(_decoded(path, tally)):
        yield n, (TimedFrame(_to_rgb(frame), pts) if wanted is None or n in wanted else None)


def _to_small_rgb(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """An 8-bit planar YUV frame area-scaled to ``width`` x ``height`` as 8-bit RGB: each plane area-resized to the
    small size (OpenCV), then converted as :func:`_to_rgb` converts (the frame's matrix and range). A tenth of the
    work of a full-resolution RGB conversion and resize at 1080p -> 640x360, and within a few levels of it: the
    chroma is averaged over the same areas as ``cv2.resize(_to_rgb(frame), INTER_AREA)`` averages it."""
    small = av.VideoFrame(width, height, "yuv444p")
    for plane, arr in zip(small.planes, _planes(frame)):
        out = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :width]
        cv2.resize(arr, (width, height), dst=out, interpolation=cv2.INTER_AREA)
    small.colorspace, small.color_range = frame.colorspace, frame.color_range
    return _to_rgb(small)


def iter_yuv_frames(
    path: str | os.PathLike[str],
    source: MediaInfo,
    pix_fmt: str | None = None,
    *,
    small: tuple[int, int] | None = None,
) -> Iterator[YuvFrame]:
    """Yield every decoded frame of ``path`` as a :class:`YuvFrame` in the planar YUV layout ``pix_fmt`` (default
    :func:`output_pix_fmt`: what :class:`MediaWriter` writes for ``source``, its :func:`probe_media`). An 8-bit
    input of that layout and range (an H.264 4:2:0 video, say) passes through unconverted; others are converted by
    FFmpeg (4:4:4 -> 4:2:0 resamples only the chroma; 10-bit luma is rounded to 8 bits). The arrays are views of
    the decoder's frame.

    With ``small`` = (h, w) (coded orientation) each frame also carries ``small``: the frame area-scaled to that
    size as RGB uint8 (:func:`_to_small_rgb`), from the same planes: one pass over the file gives both the planes
    to write and a network's working frame, with no full-resolution RGB at all.
    """
    pix_fmt = pix_fmt or output_pix_fmt(source.width, source.height)
    for frame, pts in _decoded(path):
        planar = _to_output_yuv(frame, pix_fmt, source)
        y, u, v = _planes(planar)
        if small is None:
            rgb = None
        elif (frame.height, frame.width) == small:  # the working size is the frame's own: its full RGB, as decoded
            rgb = _to_rgb(frame)
        else:
            rgb = _to_small_rgb(planar, small[1], small[0])
        yield YuvFrame(y, u, v, pts, rgb)


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as a player shows it (``rotation`` counter-clockwise degrees, multiples of 90)."""
    k = int(round(rotation / 90.0)) % 4
    return np.rot90(frame, k) if k else frame


def iter_upright_frames(
    path: str | os.PathLike[str], wanted: Collection[int] | None = None, rotation: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(n, frame)`` for the frames of ``path`` whose index ``n`` is in ``wanted`` (all when None), in order.

    Each frame is RGB uint8 (H, W, 3), contiguous, as a player shows it: the display rotation
    (``rotation`` degrees counter-clockwise; read from the file when None) applied, so a phone clip's
    frames come upright. Only wanted frames are converted to RGB, and decoding stops after the last one.
    Errors name the file, as :func:`iter_timed_frames`'s do.
    """
    if rotation is None:
        rotation = probe_media(path).rotation
    left = None if wanted is None else len(set(wanted))
    if left == 0:
        return
    for n, timed in iter_timed_frames(path, wanted=None if wanted is None else set(wanted)):
        if timed is not None:
            yield n, np.ascontiguousarray(upright(timed.rgb, rotation))
            if left is not None:
                left -= 1
                if left == 0:
                    return


def from_upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Inverse of :func:`upright`."""
    k = int(round(rotation / 90.0)) % 4
    return np.rot90(frame, -k) if k else frame


def container_for(path: str | os.PathLike[str]) -> str:
    """FFmpeg muxer name for an output file name (ParameterError for other suffixes)."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise ParameterError(f"output '{path}' must end in one of {', '.join(CONTAINERS)} (it chooses the container)")
    return CONTAINERS[suffix]


def audio_copyable(fmt: str, stream: av.audio.stream.AudioStream) -> bool:
    """Whether the ``fmt`` muxer accepts ``stream``'s packets as they are (asks FFmpeg: writes a header to memory).

    For MP4 and QuickTime only the codecs their specifications (and common players) define are copied:
    FFmpeg's MP4 muxer also accepts e.g. Vorbis or PCM under private or recent mappings that most
    players do not play, so those are re-encoded. Matroska takes whatever its muxer accepts.
    """
    name = stream.codec_context.name
    allowed = STANDARD_AUDIO.get(fmt)
    if allowed is not None and not (name in allowed or (fmt == "mov" and name.startswith("pcm_"))):
        return False
    buf = io.BytesIO()
    try:
        with av.logging.Capture():
            out = av.open(buf, mode="w", format=fmt)
            try:
                out.add_stream_from_template(stream)
                out.start_encoding()
            finally:
                with contextlib.suppress(Exception):
                    out.close()
        return True
    except (av.error.FFmpegError, ValueError, NotImplementedError):
        return False


# -- atomic output: an unnamed file linked into place ------------------------------------------
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000


def _link_unnamed(fd: int, dest: Path) -> bool:
    """Give the ``O_TMPFILE`` file ``fd`` the name ``dest`` (linkat with AT_EMPTY_PATH, else /proc)."""
    import ctypes

    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(dest), _AT_EMPTY_PATH) == 0:
            return True
    with contextlib.suppress(OSError):
        os.link(f"/proc/self/fd/{fd}", dest, follow_symlinks=True)
        return True
    return False


def _temp_name(final: Path) -> Path:
    return final.parent / f".{final.stem}.scenecolor-{os.getpid()}.tmp{final.suffix}"


def remove_stale_temps(final: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries of ``final`` left by writers that were killed (their process is gone)."""
    final = Path(final)
    removed = []
    for tmp in final.parent.glob(f".{final.stem}.scenecolor-*.tmp{final.suffix}"):
        pid = tmp.name[len(f".{final.stem}.scenecolor-") :].split(".", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``path`` only if the block completes.

    The file is created with ``O_TMPFILE`` (no name in the folder until it is linked), so a crash
    or ``kill -9`` leaves nothing behind; where the file system does not allow that, a hidden
    temporary name beside ``path`` carries the writer's pid and is removed on any exception, or by
    the next writer of ``path`` if the process was killed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)
    fd = -1
    if hasattr(os, "O_TMPFILE"):
        with contextlib.suppress(OSError):
            fd = os.open(final.parent, os.O_TMPFILE | os.O_RDWR, 0o666)  # less the umask, as any new file
    named: Path | None = None
    if fd < 0:
        named = _temp_name(final)
        fd = os.open(named, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o666)
    fh = os.fdopen(fd, "w+b")
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        if named is None:
            named = _temp_name(final)
            with contextlib.suppress(FileNotFoundError):
                named.unlink()
            if not _link_unnamed(fh.fileno(), named):  # copy out as a last resort
                fh.seek(0)
                with open(named, "wb") as copy:
                    while chunk := fh.read(1 << 22):
                        copy.write(chunk)
                    copy.flush()
                    os.fsync(copy.fileno())
        fh.close()
        os.replace(named, final)
    except BaseException:
        fh.close()
        if named is not None:
            with contextlib.suppress(FileNotFoundError):
                named.unlink()
        raise


# -- the writer ------------------------------------------------------------------------------------
@dataclass
class _Audio:
    src: Any  # input audio stream
    out: Any  # output stream
    copy: bool


@dataclass
class OutputReport:
    """What the writer kept and how (for summaries and tests)."""

    container: str
    pix_fmt: str
    audio: list[str] = field(default_factory=list)  # "copy aac", "aac <- vorbis", ...
    frames: int = 0


class MediaWriter:
    """Write colorized RGB frames for ``source`` (a :class:`MediaInfo`) into ``path``, keeping what
    the module docstring lists. Use as a context manager; ``write(rgb, pts)`` per frame, in order."""

    def __init__(
        self, path: str | os.PathLike[str], source: MediaInfo, *, encoding: Encoding | None = None, audio: bool = True
    ) -> None:
        self.path = Path(path)
        self.source = source
        self.format = container_for(self.path)
        self.encoding = encoding or Encoding()
        self.encoding.check_output(self.path)
        self.audio = audio
        self.pix_fmt = self.encoding.pix_fmt(source.width, source.height)
        self.report = OutputReport(self.format, self.pix_fmt)
        self._last_pts: int | None = None
        self._tracks: list[_Audio] = []
        self._audio_in: av.container.InputContainer | None = None
        self._audio_packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self._stack = contextlib.ExitStack()

    @property
    def n_frames(self) -> int:
        return self.report.frames

    # set-up
    def __enter__(self) -> MediaWriter:
        try:
            fh = self._stack.enter_context(atomic_output(self.path))
            self._container = av.open(fh, mode="w", format=self.format)
            self._stack.callback(self._container.close)
            self._copy_metadata()
            self._add_video()
            if self.audio and self.source.audio:
                self._add_audio()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        return self

    def _copy_metadata(self) -> None:
        """Container tags (creation_time, location, title...) travel with the video; the encoder tag is ours."""
        with av.open(self.source.path, mode="r") as src:
            tags = {k: v for k, v in src.metadata.items() if k.lower() not in _NOT_COPIED_TAGS}
        for key, value in tags.items():
            self._container.metadata[key] = value

    def _add_video(self) -> None:
        src = self.source
        rate = Fraction(src.fps).limit_denominator(1001) if src.fps > 0 else Fraction(25)
        codec = pick_codec(self.encoding)
        stream = self._container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = src.width, src.height, self.pix_fmt
        ctx = stream.codec_context
        ctx.time_base = src.time_base
        stream.time_base = src.time_base
        if src.sample_aspect_ratio:
            ctx.sample_aspect_ratio = src.sample_aspect_ratio
            stream.sample_aspect_ratio = src.sample_aspect_ratio
        ctx.colorspace, ctx.color_range = self._matrix_and_range()
        ctx.color_primaries, ctx.color_trc = src.color_primaries, src.color_trc
        if src.display_matrix is not None:
            stream.set_display_matrix(list(src.display_matrix))
        stream.options = self.encoding.options(codec)
        self._video = stream

    def _matrix_and_range(self) -> tuple[int, int]:
        """The YUV matrix and range tags: the source's, or RGB / full range for frames stored as RGB (FFV1)."""
        if self.encoding.rgb:
            return RGB_MATRIX, JPEG_RANGE
        return self.source.colorspace, self.source.color_range

    def _add_audio(self) -> None:
        self._audio_in = av.open(self.source.path, mode="r")
        self._stack.callback(self._audio_in.close)
        for a in self._audio_in.streams.audio:
            if audio_copyable(self.format, a):
                out = self._container.add_stream_from_template(a)
                self._tracks.append(_Audio(a, out, True))
                self.report.audio.append(f"copy {a.codec_context.name}")
            else:
                ctx = a.codec_context
                out = self._container.add_stream(AUDIO_FALLBACK, rate=ctx.sample_rate or 48000)
                with contextlib.suppress(Exception):
                    out.layout = ctx.layout.name if ctx.channels <= 8 else "stereo"
                out.codec_context.bit_rate = 64000 * max(1, min(ctx.channels or 2, 8))
                self._tracks.append(_Audio(a, out, False))
                self.report.audio.append(f"{AUDIO_FALLBACK} <- {ctx.name}")
            for key in ("language", "title"):
                if key in a.metadata:
                    out.metadata[key] = a.metadata[key]
            out.disposition = a.disposition
        self._by_index = {t.src.index: t for t in self._tracks}
        self._audio_packets = self._audio_in.demux(*[t.src for t in self._tracks])

    # audio, muxed as the video advances
    def _next_audio(self) -> av.Packet | None:
        if self._pending is None and self._audio_packets is not None:
            try:
                self._pending = next(self._audio_packets)
            except StopIteration:
                self._audio_packets = None
            except av.error.FFmpegError:  # a damaged audio tail: keep what was muxed
                self._audio_packets = None
        return self._pending

    def _mux_audio(self, until: float | None) -> None:
        while (packet := self._next_audio()) is not None:
            t = packet.dts if packet.dts is not None else packet.pts
            if (
                until is not None
                and t is not None
                and packet.time_base is not None
                and float(t * packet.time_base) > until
            ):
                return
            self._pending = None
            track = self._by_index[packet.stream.index]
            if track.copy:
                if packet.dts is None and packet.size == 0:
                    continue
                packet.stream = track.out
                self._container.mux(packet)
            else:
                with contextlib.suppress(av.error.FFmpegError):  # a broken packet is dropped, as players do
                    for frame in track.src.decode(packet):
                        frame.time_base = track.src.time_base
                        for out_packet in track.out.encode(frame):
                            self._container.mux(out_packet)

    def _flush_audio(self) -> None:
        self._mux_audio(None)
        for track in self._tracks:
            if not track.copy:
                with contextlib.suppress(av.error.FFmpegError):
                    for frame in track.src.decode(None):
                        for out_packet in track.out.encode(frame):
                            self._container.mux(out_packet)
                for out_packet in track.out.encode(None):
                    self._container.mux(out_packet)

    # video
    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Append one (H, W, 3) uint8 RGB frame (or (H, W) grey) at ``pts`` (source time base)."""
        src = self.source
        if rgb.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {rgb.dtype}")
        if rgb.shape[:2] != (src.height, src.width):
            raise ValueError(f"frame shape {rgb.shape[:2]} != source size {(src.height, src.width)}")
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if self.encoding.rgb:  # stored as RGB (FFV1): no YUV matrix or range applies
            self._encode(frame.reformat(format=self.pix_fmt), pts)
        else:
            self._encode(_rgb_frame_to_yuv(frame, src, self.pix_fmt), pts)

    def write_yuv(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None = None) -> None:
        """Append one frame given as its Y, Cb, Cr planes (uint8, the shapes of :class:`YuvFrame` for this
        source, in its matrix and range) at ``pts``: the planes reach the encoder unchanged. Not for an
        encoding stored as RGB (FFV1): use :meth:`write`."""
        if self.encoding.rgb:
            raise ValueError(f"{self.encoding.describe()} stores RGB frames: write them with write(), not write_yuv()")
        frame = av.VideoFrame(self.source.width, self.source.height, self.pix_fmt)
        for name, plane, arr in zip("yuv", frame.planes, (y, u, v)):
            if arr.dtype != np.uint8 or arr.shape != (plane.height, plane.width):
                raise ValueError(
                    f"plane {name} must be uint8 of shape {(plane.height, plane.width)} for {self.pix_fmt}, "
                    f"got {arr.dtype} {arr.shape}"
                )
            np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width] = arr
        self._encode(frame, pts)

    def _encode(self, frame: av.VideoFrame, pts: int | None) -> None:
        src = self.source
        if pts is None:  # a frame without timestamp: n / fps after the previous one
            step = max(1, int(round(1 / (src.fps or 25) / src.time_base)))
            pts = 0 if self._last_pts is None else self._last_pts + step
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the encoder needs strictly increasing timestamps
        self._last_pts = pts
        frame.colorspace, frame.color_range = self._matrix_and_range()
        frame.pts, frame.time_base = pts, src.time_base
        if self._tracks:
            self._mux_audio(float(pts * src.time_base))
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.report.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for packet in self._video.encode():
                    self._container.mux(packet)
                if self._tracks:
                    self._flush_audio()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.__exit__(exc_type, exc, tb)


def check_media_input(path: str | os.PathLike[str]) -> MediaInfo:
    """Probe ``path`` for colorizing; VideoError subclasses name the file."""
    try:
        return probe_media(path)
    except VideoError:
        raise
    except av.error.FFmpegError as exc:  # pragma: no cover - anything FFmpeg raises past the open
        raise CorruptVideoError(f"corrupt video '{path}': {exc}") from exc
