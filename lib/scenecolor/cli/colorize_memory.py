"""``scenecolor bench colorize-memory``: peak RSS of colorize against video length (issue 14)."""

from __future__ import annotations

import argparse
import json

from scenecolor.cli import add_device_argument


def _bench(args: argparse.Namespace) -> int:
    from scenecolor.core.errors import ParameterError
    from scenecolor.workbook.bench_memory import TARGET_MB, bench_colorize_memory
    from scenecolor.workbook.runs import resolve_run_dir

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ParameterError(f"--size must be WIDTHxHEIGHT, e.g. 1920x1080, got {args.size!r}") from None
    result = bench_colorize_memory(
        resolve_run_dir(args.run),
        args.out_dir,
        seconds=args.seconds,
        size=(width, height),
        fps=args.fps,
        references=args.references,
        keep_video=args.keep_video,
        progress=not args.quiet,
        device=args.device,
    )
    if args.json:
        print(json.dumps({k: v for k, v in result.to_dict().items() if k != "curve"}))
        return 0
    r = result
    fps = r.frames / max(r.colorize_s, 1e-9)
    print(
        f"colorize {r.frames} frames of {r.width}x{r.height} ({r.seconds_of_video:g} s at {r.fps} fps) "
        f"in {r.colorize_s:.0f} s ({fps:.1f} fps)"
    )
    print("  frames written   RSS (MB)")
    for q, f, m in r.at_fractions():
        print(f"  {q:4.0%} {f:9d}   {m:8.0f}")
    verdict = "meets" if r.meets_target else "misses"
    print(
        f"baseline {r.baseline_mb:.0f} MB, peak {r.peak_mb:.0f} MB, slope {r.mb_per_1000_frames:+.2f} MB per 1000 "
        f"frames over the second half; projected to 10 minutes: {r.projected_mb_at_target:.0f} MB - {verdict} the "
        f"{TARGET_MB:.0f} MB target.\n"
        f"curve: {args.out_dir}/curve.csv, {args.out_dir}/curve.png, {args.out_dir}/memory.json"
    )
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench colorize-memory``."""
    p = bench_subparsers.add_parser(
        "colorize-memory", help="peak memory of colorize on a long generated video, RSS against frames"
    )
    p.add_argument(
        "--seconds", type=float, default=60, help="video length in seconds (target: 600; default %(default)s)"
    )
    p.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT (default %(default)s)")
    p.add_argument("--fps", type=int, default=25, help="frames per second (default %(default)s)")
    p.add_argument("--run", default=None, help="workbook run folder with a trained colorizer (default: reports/latest)")
    p.add_argument("--references", type=int, default=5, help="references per scene (default %(default)s)")
    p.add_argument("--out-dir", default="reports/bench-colorize-memory", help="where curve.csv/png and memory.json go")
    p.add_argument("--keep-video", action="store_true", help="keep the generated and colorized videos")
    p.add_argument("--json", action="store_true", help="print the result (without the curve) as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p)
    p.set_defaults(func=_bench)
