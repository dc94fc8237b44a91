"""``scenecolor scenes VIDEO`` (the cut detector) and ``scenecolor bench scenes`` (its speed).

``scenes`` imports only the detector (NumPy, OpenCV, PyAV): the benchmark's pandas, SciPy and
PySceneDetect are imported when ``bench scenes`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys

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
    parser.add_argument(
        "--motion-ratio",
        type=float,
        default=_DEFAULTS.motion_ratio,
        help="a cut must keep this share of its SSDev once the previous frame is warped onto it by optical flow "
        "(default %(default)s; 0 = no motion compensation)",
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
        motion_ratio=args.motion_ratio,
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

    from scenecolor.workbook.scenes.experiments import (
        CONTENT_DETECTOR_COMMAND,
        benchmark,
        cli_wall_times,
        default_bench_videos,
        throughput_ratios,
    )
    from scenecolor.workbook.scenes.peers import all_detectors

    paths = args.videos or default_bench_videos()
    detectors = all_detectors(_config(args))
    ours = detectors[0].name
    table = benchmark(paths, detectors, repeats=args.repeats)
    print(f"In process (decode + detection, same decoder for all; best of {args.repeats}):")
    with pd.option_context("display.width", 160, "display.max_columns", 10):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for video, group in table.groupby("video", sort=False):
        _, r = throughput_ratios(group, ours)
        print(
            f"{video}: ours / ContentDetector throughput = {r['ours_vs_content']:.2f}x; "
            f"ours / AdaptiveDetector = {r['ours_vs_adaptive']:.2f}x; "
            f"ours time / decode-only time = {r['ours_vs_decode']:.2f}x (decode-only floor ratio)"
        )
        plain = group.set_index("what")["seconds"]
        if "decode only (gray, deblocked)" in plain:
            saved = 1 - plain["decode only (gray)"] / plain["decode only (gray, deblocked)"]
            print(f"{video}: decoding without the deblocking filter saves {saved:.0%} of the decode time")
    if args.no_cli:
        return 0
    walls = cli_wall_times(paths, repeats=args.repeats)
    print(
        "\nCommand line, as a user runs it (a new process each time: start-up, imports, decode, detection; "
        f"best of {args.repeats}):"
    )
    for video, group in walls.groupby("video", sort=False):
        secs = dict(zip(group["what"], group["seconds"]))
        cpu = dict(zip(group["what"], group["cpu_seconds"]))
        for cmd, s, c in zip(group["command"], group["seconds"], group["cpu_seconds"]):
            print(f"  {s:7.2f} s  (CPU {c:6.2f} s)  {cmd}")
        inproc = table[table["video"] == video].set_index("what")["seconds"]
        ours_cmd, content = "scenecolor scenes --json", CONTENT_DETECTOR_COMMAND
        print(
            f"{video}: wall time scenecolor scenes / PySceneDetect ContentDetector (detect() in a new process) = "
            f"{secs[ours_cmd] / secs[content]:.2f}x (target <= 1); CPU time {cpu[ours_cmd] / cpu[content]:.2f}x"
        )
        theirs = secs["scenedetect detect-adaptive list-scenes"]
        print(
            f"{video}: CLI wall time scenecolor / scenedetect = "
            f"{secs['scenecolor scenes --json'] / theirs:.2f}x (target <= 1); "
            f"the scenes command alone (python -m scenecolor.cli.scenes) / scenedetect = "
            f"{secs['python -m scenecolor.cli.scenes --json'] / theirs:.2f}x"
        )
        print(
            f"{video}: in process, ours / AdaptiveDetector time = {inproc[ours] / inproc['AdaptiveDetector']:.2f}x; "
            f"ours / decode-only floor = {inproc[ours] / inproc['decode only (gray)']:.2f}x; "
            f"`scenecolor scenes` spends {secs['scenecolor scenes --json'] - inproc[ours]:.2f} s outside the detector "
            f"(interpreter, imports, output)"
        )
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench scenes``."""
    p = bench_subparsers.add_parser(
        "scenes",
        help="cut detection speed: ours vs PySceneDetect, in process and as command lines",
        description="Seconds and frames/s of ours, ContentDetector, AdaptiveDetector and the bare decodes "
        "in one process, then the wall and CPU time of `scenecolor scenes VIDEO --json` beside PySceneDetect's "
        "`detect(VIDEO, ContentDetector())` and `scenedetect -i VIDEO detect-adaptive list-scenes`, each run as "
        "a new process.",
    )
    p.add_argument("videos", nargs="*", help="video files (default: the 720p clip of data_manifests/scene_clips.yaml)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many interleaved rounds (default %(default)s)")
    p.add_argument("--no-cli", action="store_true", help="skip the command-line wall times")
    _add_detector_options(p)
    p.set_defaults(func=_bench)


def main(argv: list[str] | None = None) -> int:
    """``python -m scenecolor.cli.scenes VIDEO [options]``: the scenes command without the others
    (``scenecolor bench scenes`` times it to show what the rest of the CLI's start-up costs)."""
    from scenecolor.core.errors import ScenecolorError

    parser = argparse.ArgumentParser(prog="python -m scenecolor.cli.scenes")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["scenes", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except ScenecolorError as exc:
        print(f"scenecolor scenes: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
