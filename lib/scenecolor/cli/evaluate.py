"""``scenecolor metrics TRUTH COLORIZED``: the paper's measures and CDC of one colorized video."""

from __future__ import annotations

import argparse

from scenecolor.cli import add_device_argument
from scenecolor.cli._encoding import add_encoding_arguments, encoding_from_args


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

    from scenecolor.core.artifacts import atomic_write_json, to_json
    from scenecolor.core.errors import ParameterError
    from scenecolor.evaluate.baselines import exemplar_baselines
    from scenecolor.evaluate.exemplar import evaluate_exemplar, metric_key, read_clip, summary_table
    from scenecolor.evaluate.protocol import ColorizerMethod
    from scenecolor.workbook.batch import find_videos
    from scenecolor.workbook.runs import open_backend, resolve_run_dir

    if args.width < 2 or args.width % 2:
        raise ParameterError(f"--width {args.width}: give an even number of pixels >= 2 (H.264 4:2:0 codes pairs)")
    if args.before_encoding and (args.crf is not None or args.lossless is not None):
        raise ParameterError("--before-encoding scores the frames before any encoding: drop --crf / --lossless")
    encoding = None if args.before_encoding else encoding_from_args(args)
    paths = [f for spec in args.videos for f in find_videos(spec)[1]]
    backend = open_backend(resolve_run_dir(args.run), args.backend, args.device)
    ours = ColorizerMethod(backend, clip_len=args.clip_len)
    baselines = exemplar_baselines(flow_method=str(getattr(backend, "flow_method", "dis_fast")))
    methods = [ours] + [m for m in baselines if args.welsh or not m.name.startswith("Welsh")]
    rows = []
    for path in paths:
        clip = read_clip(path, width=args.width, max_frames=args.frames, frame_step=args.frame_step)
        result = evaluate_exemplar([clip], methods, progress=False, encoding=encoding, out_dir=args.out_dir)
        rows.append(result.rows)
        if args.json != "-":
            named = zip(result.rows["method"], result.rows["PSNR"])
            scores = " | ".join(f"{metric_key(m)} {v:.2f}" for m, v in named)
            size = f"{clip.frames.shape[2]}x{clip.frames.shape[1]}"
            print(f"{clip.clip_id}: {size}, {len(clip.frames) - 1} frames scored | {scores}", flush=True)
    per_clip = pd.concat(rows, ignore_index=True)
    table = summary_table(per_clip)
    scoring = encoding.describe() if encoding is not None else "before encoding"
    if args.json:
        out = {
            "scored": scoring,
            "per_clip": per_clip.to_dict(orient="records"),
            "mean": table.to_dict(orient="records"),
        }
        if args.json == "-":
            print(to_json(out))
            return 0
        atomic_write_json(args.json, out)
    short = per_clip.assign(method=per_clip["method"].map(metric_key))
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.precision", 3):
        for measure in ("PSNR", "SSIM"):
            wide = short.pivot_table(index="clip_id", columns="method", values=measure, sort=False)
            print(f"\n{measure} per clip (scored {scoring}):")
            print(wide.to_string())
        print("\nmean over clips, weighted by scored frames:")
        print(table.to_string(index=False))
    return 0


def _exemplar_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", help="colour videos (each one continuous shot), folders or quoted globs")
    p.add_argument(
        "--run", default=None, help="workbook run folder with the trained colorizer (default: reports/latest)"
    )
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    p.add_argument(
        "--width", type=int, default=640, help="scoring width in pixels, even, aspect ratio kept (default %(default)s)"
    )
    p.add_argument(
        "--frames", type=int, default=48, help="frames per clip, the reference included (default %(default)s)"
    )
    p.add_argument("--frame-step", type=int, default=1, help="keep one frame in N (default %(default)s)")
    p.add_argument("--clip-len", type=int, default=8, help="frames the network sees at once (default %(default)s)")
    p.add_argument("--welsh", action="store_true", help="also run Welsh et al. (slow at large widths)")
    add_encoding_arguments(p)
    p.add_argument(
        "--before-encoding",
        action="store_true",
        help="score the frames before any encoding (default: every method through the same --crf/--lossless "
        "encoding, as colorize writes it)",
    )
    p.add_argument(
        "--out-dir", default=None, help="keep every method's written video here (default: a temporary folder)"
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default="",
        metavar="PATH",
        help="print per-clip rows and the means as JSON (with PATH: write them there and print the tables)",
    )
    add_device_argument(p)
    p.set_defaults(func=_exemplar)


EXEMPLAR_DESCRIPTION = (
    "For each colour video (files, folders or globs): its first frame is the only reference (as `scenecolor colorize "
    "--reference VIDEO#frame=0`), the next frames are scored at WIDTH pixels wide (aspect ratio kept) for ours, the "
    "flow warp of the reference by DIS (the flow of the network's own candidate, at its settings) and by Farneback, "
    "the reference pasted in place, Welsh (--welsh), the mean reference ab and grey. Every method's output goes "
    "through the same output encoding (--crf/--lossless, default as colorize writes) and the decoded frames are "
    "scored; the ground truth through that encoding is the ceiling row. Prints PSNR and SSIM per clip and the means."
)


def register_exemplar(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "exemplar-eval",
        help="the exemplar protocol on your colour clips: frame 0 is the only reference, the others are scored",
        description=EXEMPLAR_DESCRIPTION,
    )
    _exemplar_arguments(p)


def _bench_encoding(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from scenecolor.core.encoding import Encoding
    from scenecolor.evaluate.exemplar import encoding_ceiling
    from scenecolor.workbook.batch import find_videos

    paths = [f for spec in args.clips for f in find_videos(spec)[1]]
    encodings = [Encoding(crf=c) for c in args.crf] + [Encoding(lossless=m) for m in args.lossless]
    table = encoding_ceiling(paths, encodings, max_frames=args.frames)
    mean = (
        table.groupby("encoding", sort=False)[["PSNR", "kbit_per_s", "bytes"]]
        .mean()
        .reset_index()
        .rename(columns={"PSNR": "mean PSNR", "kbit_per_s": "mean kbit/s", "bytes": "mean bytes"})
    )
    if args.json:
        print(json.dumps({"per_clip": table.to_dict(orient="records"), "mean": mean.to_dict(orient="records")}))
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 14, "display.precision", 2):
        print(table.pivot_table(index="clip", columns="encoding", values="PSNR", sort=False).to_string())
        print()
        print(mean.to_string(index=False))
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench transfer`` (the exemplar protocol, as ``exemplar-eval``) and ``scenecolor bench
    encoding``."""
    t = bench_subparsers.add_parser(
        "transfer",
        help="colour transfer from the first frame on any folder of colour clips: ours vs DIS / Farneback warp, "
        "paste, grey (PSNR, SSIM per clip and mean)",
        description=EXEMPLAR_DESCRIPTION,
    )
    _exemplar_arguments(t)
    p = bench_subparsers.add_parser(
        "encoding",
        help="what the output encoding alone costs: your clips' own frames written as colorize writes them, read back",
        description="For each clip (files, folders or globs), its first --frames frames are written as `scenecolor "
        "colorize` writes them (H.264 veryfast at each --crf, 4:2:0; and each --lossless mode) and decoded back: PSNR "
        "against the decoded original (the ceiling any colorizer's output has under that encoding), size and bitrate.",
    )
    p.add_argument("clips", nargs="+", help="colour videos, folders or quoted globs")
    p.add_argument("--crf", type=int, nargs="*", default=[0, 10, 12, 14, 16, 18, 20, 23], help="rate factors to try")
    p.add_argument("--lossless", nargs="*", default=["x264", "ffv1"], help="lossless modes to try")
    p.add_argument("--frames", type=int, default=48, help="frames per clip (default %(default)s; 0 = all)")
    p.add_argument("--json", action="store_true", help="print per-clip rows and the means as JSON")
    p.set_defaults(func=_bench_encoding)
