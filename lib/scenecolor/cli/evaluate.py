"""``scenecolor metrics TRUTH COLORIZED``: the paper's measures and CDC of one colorized video."""

from __future__ import annotations

import argparse

from scenecolor.cli import add_device_argument


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
    register_exemplar(subparsers)


def _exemplar(args: argparse.Namespace) -> int:
    import pandas as pd

    from scenecolor.core.artifacts import atomic_write_json
    from scenecolor.evaluate.baselines import exemplar_baselines
    from scenecolor.evaluate.exemplar import evaluate_exemplar, read_clip, summary_table
    from scenecolor.evaluate.protocol import ColorizerMethod
    from scenecolor.workbook.runs import open_backend, resolve_run_dir

    backend = open_backend(resolve_run_dir(args.run), args.backend, args.device)
    ours = ColorizerMethod(backend, clip_len=args.clip_len)
    methods = [ours] + [m for m in exemplar_baselines() if args.welsh or not m.name.startswith("Welsh")]
    rows = []
    for video in args.videos:
        clip = read_clip(video, width=args.width, max_frames=args.frames, frame_step=args.frame_step)
        result = evaluate_exemplar([clip], methods, progress=False)
        rows.append(result.rows)
        if not args.json:
            print(
                f"{clip.clip_id}: {clip.frames.shape[2]}x{clip.frames.shape[1]}, {len(clip.frames) - 1} "
                "frames scored | "
                + " | ".join(f"{m.split(' (')[0]} {p:.2f}" for m, p in zip(result.rows["method"], result.rows["PSNR"]))
            )
    table = summary_table(pd.concat(rows))
    if args.json:
        atomic_write_json(
            args.json,
            {"per_clip": pd.concat(rows).to_dict(orient="records"), "summary": table.to_dict(orient="records")},
        )
    with pd.option_context("display.width", 200, "display.max_columns", 12):
        print(table.to_string(index=False))
    return 0


def register_exemplar(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "exemplar-eval",
        help="the exemplar protocol on your colour clips: frame 0 is the only reference, the others are scored",
        description="For each colour VIDEO: its first frame is the only reference (as `scenecolor colorize --reference "
        "VIDEO#frame=0`), the next frames are scored at WIDTH pixels wide (aspect ratio kept) for ours, the Farneback "
        "flow warp of the reference, the reference pasted in place, Welsh (--welsh), the mean reference ab and grey.",
    )
    p.add_argument("videos", nargs="+", help="colour videos (each one continuous shot)")
    p.add_argument(
        "--run", default=None, help="workbook run folder with the trained colorizer (default: reports/latest)"
    )
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    p.add_argument(
        "--width", type=int, default=640, help="scoring width in pixels, aspect ratio kept (default %(default)s)"
    )
    p.add_argument(
        "--frames", type=int, default=48, help="frames per clip, the reference included (default %(default)s)"
    )
    p.add_argument("--frame-step", type=int, default=1, help="keep one frame in N (default %(default)s)")
    p.add_argument("--clip-len", type=int, default=8, help="frames the network sees at once (default %(default)s)")
    p.add_argument("--welsh", action="store_true", help="also run Welsh et al. (slow at large widths)")
    p.add_argument("--json", default="", help="write per-clip rows and the summary to this JSON file")
    add_device_argument(p)
    p.set_defaults(func=_exemplar)
