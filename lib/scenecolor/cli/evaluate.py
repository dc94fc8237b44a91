"""``scenecolor metrics TRUTH COLORIZED``: the paper's measures and CDC of one colorized video."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from scenecolor.core.artifacts import atomic_write_json
    from scenecolor.evaluate.protocol import compare_videos

    scores = compare_videos(args.truth, args.colorized, max_frames=args.max_frames)
    width = max(len(k) for k in scores)
    for name, value in scores.items():
        print(f"{name:<{width}}  {value:.6g}" if isinstance(value, float) else f"{name:<{width}}  {value}")
    if args.json:
        atomic_write_json(args.json, scores)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="score a colorized video against its ground truth (AD, RMSE, MD, SC, NAE, NCC, SSIM, PCC, PSNR, CDC, dAB)",
        description="Compare two videos of the same frame count and size frame by frame (8-bit RGB); "
        "the definitions are those of notebook 05 (scenecolor.evaluate.metrics).",
    )
    p.add_argument("truth", help="the original colour video")
    p.add_argument("colorized", help="the colorized video (same frames, same size)")
    p.add_argument("--max-frames", type=int, default=0, help="compare only the first N frames (0 = all)")
    p.add_argument("--json", default="", help="also write the scores to this JSON file")
    p.set_defaults(func=_run)
