"""The output-encoding flags shared by every command that writes video (``--crf N``, ``--lossless MODE``)."""

from __future__ import annotations

import argparse

from scenecolor.core.encoding import DEFAULT_CRF, LOSSLESS_MODES, Encoding

CRF_HELP = (
    "H.264 constant rate factor of the output, 0 (best, largest) .. 51 (default {default}: the ground truth itself "
    "written at crf 14 and read back scores 42.1 dB PSNR on average over seven real clips and 39.97 dB on the worst, "
    "where crf 18 gave 40.9 and 38.3 dB and lossless 4:2:0 45.3 dB, for 1.7x crf 18's size; `scenecolor bench "
    "encoding CLIPS` measures it on yours)"
)
LOSSLESS_HELP = (
    "archival output instead of --crf: x264 = H.264 qp 0 in 4:4:4 (.mp4/.mov/.mkv; exact YUV, within 2 levels "
    "of the RGB; VLC/mpv/ffplay play it, browsers mostly do not), ffv1 = FFV1 as RGB in .mkv (bit-exact frames)"
)


def add_encoding_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--crf`` and ``--lossless`` to ``p``."""
    p.add_argument("--crf", type=int, default=None, metavar="N", help=CRF_HELP.format(default=DEFAULT_CRF))
    p.add_argument("--lossless", default=None, choices=LOSSLESS_MODES, help=LOSSLESS_HELP)


def encoding_from_args(args: argparse.Namespace) -> Encoding:
    """The validated :class:`Encoding` of ``--crf`` / ``--lossless`` (ParameterError naming the fix)."""
    return Encoding(crf=args.crf, lossless=args.lossless)
