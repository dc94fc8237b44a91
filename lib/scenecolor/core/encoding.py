"""How output video frames are coded: a rate factor ``crf`` or a ``lossless`` mode (``scenecolor colorize`` takes both).

Plain validated data (no FFmpeg import, so the CLI's help starts at once); the writers
(:class:`scenecolor.core.media.MediaWriter`, :class:`scenecolor.core.video.VideoWriter`) apply it.

Why the default rate factor is 14 (README, "Output quality"; ``scenecolor bench encoding`` measures it): the
first 48 frames of seven real clips, written as ``scenecolor colorize`` writes them (H.264 4:2:0, veryfast) and
decoded back, score 40.9 dB PSNR on average against the original at crf 18 (worst clip 38.3 dB), against 45.3 dB
for lossless 4:2:0 (crf 0): crf 18 caps every score well below what 4:2:0 allows. Each two steps below 18 add
0.47-0.64 dB for 29-31 % more bytes, with no knee; crf 14 is the largest rate factor that keeps the worst clip
at 40 dB (39.97; mean 42.1 dB), for 1.7 times crf 18's bytes (a fifth of lossless 4:2:0's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from scenecolor.core.errors import ParameterError

DEFAULT_CRF = 14
LOSSLESS_MODES = ("x264", "ffv1")
MATROSKA_SUFFIXES = (".mkv",)
_MAX_CRF = 51


@dataclass(frozen=True)
class Encoding:
    """How output frames are coded: H.264 at constant rate factor ``crf`` (lossy; 4:2:0, which every player
    and browser decodes; 4:4:4 at odd sizes), or ``lossless``:

    - ``"x264"``: H.264 at qp 0 in 4:4:4 (High 4:4:4 Predictive; .mp4, .mov or .mkv): the YUV planes are kept
      exactly, so the decoded RGB is the written RGB through one RGB -> YUV 4:4:4 -> RGB conversion (within
      two levels per channel). FFmpeg-based players (VLC, mpv, ffplay) read it; browsers' H.264 decoders
      generally take 4:2:0 only.
    - ``"ffv1"``: FFV1 (RFC 9043, the archival codec), coded as RGB, in Matroska (.mkv only): bit-exact
      frames. FFmpeg-based players read it; browsers and QuickTime do not.

    ``crf`` (0 best .. 51 worst; None: :data:`DEFAULT_CRF`) applies to the lossy mode only; giving both is a
    ParameterError, as are a crf out of range and an unknown mode.
    """

    crf: int | None = None
    lossless: str | None = None

    def __post_init__(self) -> None:
        if self.lossless is not None:
            if self.lossless not in LOSSLESS_MODES:
                raise ParameterError(
                    f"lossless {self.lossless!r} is not a lossless mode; give x264 (H.264 4:4:4, .mp4 "
                    ".mov or .mkv) or ffv1 (FFV1, .mkv only)",
                    "lossless",
                )
            if self.crf is not None:
                raise ParameterError(
                    f"crf {self.crf} and the lossless mode {self.lossless} exclude each other (lossless output has no "
                    "rate factor): drop one of the two",
                    "crf",
                )
            return
        crf = DEFAULT_CRF if self.crf is None else self.crf
        if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= _MAX_CRF:
            raise ParameterError(
                f"crf {self.crf!r} is out of range: x264's rate factor is a whole number from 0 (best) to "
                f"{_MAX_CRF} (worst); give 0..{_MAX_CRF} (default {DEFAULT_CRF}), or a lossless mode (x264 or ffv1) "
                "for lossless output",
                "crf",
            )
        object.__setattr__(self, "crf", crf)

    @property
    def codec(self) -> str:
        """The FFmpeg encoder: ffv1, else libx264."""
        return "ffv1" if self.lossless == "ffv1" else "libx264"

    @property
    def rgb(self) -> bool:
        """Whether frames are stored as RGB (FFV1): no YUV matrix or range applies."""
        return self.lossless == "ffv1"

    def pix_fmt(self, width: int, height: int) -> str:
        """The coded pixel format for a ``width`` x ``height`` frame (4:2:0 crops in two-pixel units)."""
        if self.lossless == "ffv1":
            return "bgr0"
        if self.lossless == "x264" or width % 2 or height % 2:
            return "yuv444p"
        return "yuv420p"

    def options(self, codec: str | None = None) -> dict[str, str]:
        """The options of encoder ``codec`` (default :attr:`codec`; a fallback encoder gets none).

        x264 runs with mbtree=0: its macroblock-tree lookahead reads uninitialised heap memory in its AVX-512
        code path at many widths, so the same frames gave different bytes from run to run
        (tests/core/test_video_determinism.py). FFV1 is intra-only with slice checksums (level 3, g 1), as
        archives use it.
        """
        codec = codec or self.codec
        if codec == "ffv1":
            return {"level": "3", "g": "1", "slicecrc": "1"}
        if codec != "libx264":
            return {}
        rate = {"qp": "0"} if self.lossless == "x264" else {"crf": str(self.crf)}
        return {**rate, "preset": "veryfast", "x264-params": "mbtree=0"}

    def check_output(self, path: str | os.PathLike[str]) -> None:
        """ParameterError when the container that ``path``'s suffix names cannot hold this encoding."""
        suffix = Path(path).suffix.lower()
        if self.lossless == "ffv1" and suffix not in MATROSKA_SUFFIXES:
            raise ParameterError(
                f"lossless ffv1 writes FFV1, which players read only from Matroska, but '{path}' ends in "
                f"'{suffix or '(no suffix)'}': name the output '{Path(path).with_suffix('.mkv').name}', or use the "
                "lossless mode x264 for .mp4/.mov",
                "lossless",
            )

    def describe(self) -> str:
        """One line for summaries and tables."""
        if self.lossless == "ffv1":
            return "FFV1 lossless (RGB)"
        if self.lossless == "x264":
            return "H.264 lossless (qp 0, 4:4:4)"
        return f"H.264 crf {self.crf}"

    def to_json(self) -> dict[str, object]:
        return {"crf": self.crf, "lossless": self.lossless}
