"""``scenecolor colorize VIDEO --out OUT.mp4`` and ``scenecolor bench colorize``."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path

from scenecolor.cli import add_device_argument
from scenecolor.cli._encoding import add_encoding_arguments, encoding_from_args

VERIFY_THRESHOLD = 0.15  # scenecolor.colorize.verify.VerifyConfig.threshold (not imported: --help starts without torch)
FALLBACKS = ("grey", "prior", "learned")  # scenecolor.colorize.verify.FALLBACKS
FALLBACK = "grey"  # what a scene with no verified reference gets unless --fallback says otherwise


# -- many files (issue 14): DIR_OR_GLOB --out-dir OUT [--jobs N] [--dask ADDRESS] ---------------
def _is_many(args: argparse.Namespace) -> bool:
    return args.out_dir is not None or Path(args.video).is_dir() or any(ch in args.video for ch in "*?[")


def _colorize_many(args: argparse.Namespace) -> int:
    from scenecolor.core.errors import ParameterError
    from scenecolor.workbook.batch import colorize_many, find_videos, plan, summary_table
    from scenecolor.workbook.runs import resolve_run_dir

    if args.out_dir is None or args.out is not None:
        raise ParameterError("a folder or glob of videos takes --out-dir OUT (one output per file), not --out")
    run = resolve_run_dir(args.run)
    tasks = plan(
        args.video,
        args.out_dir,
        run,
        references=args.references,
        backend=args.backend,
        ext=args.ext,
        jobs=args.jobs,
        reference_files=args.reference or None,
        gallery=args.gallery,
        device=args.device,
        encoding=encoding_from_args(args),
        merge=args.merge,
        fallback=args.fallback,
    )
    root = find_videos(args.video)[0]

    def report(res) -> None:  # a failing file is said at once, the others go on
        if res.status == "failed" and not args.json:
            print(f"failed: {res.video}: {res.reason}", flush=True)

    results = colorize_many(tasks, jobs=args.jobs, dask=args.dask, progress=not args.quiet, on_result=report)
    if args.json:
        print(json.dumps([r.to_json() for r in results]))
    else:
        print(summary_table(results, root))
    return 1 if any(r.status == "failed" for r in results) else 0


def _terminate_as_interrupt(signum, frame) -> None:  # a kill (SIGTERM) cleans up like Ctrl-C: no partial output
    raise KeyboardInterrupt


def _colorize(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        if _is_many(args):
            return _colorize_many(args)
        return _colorize_one(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _colorize_one(args: argparse.Namespace) -> int:
    if args.out is None:
        from scenecolor.core.errors import ParameterError

        raise ParameterError("give --out OUT.mp4 (or .mov/.mkv) for one video, or --out-dir OUT for a folder or glob")
    from scenecolor.colorize.verify import VerifyConfig
    from scenecolor.workbook.runs import colorize_with_run  # torch, faiss, ... load only when the command runs

    summary = colorize_with_run(
        args.video,
        args.out,
        run_dir=args.run,
        references=args.references,
        reference_files=args.reference or None,
        backend=args.backend,
        progress=not args.quiet,
        gallery=args.gallery,
        device=args.device,
        encoding=encoding_from_args(args),
        verify=VerifyConfig(threshold=args.verify_threshold, fallback=args.fallback),
        merge=args.merge,
    )
    if args.json:
        print(json.dumps(summary.to_json()))
        return 0
    n_refs = len(args.reference) if args.reference else args.references
    print(
        f"{summary.out}: {summary.n_frames} frames, {summary.width}x{summary.height} at {summary.fps:g} fps, "
        f"{len(summary.scenes)} scene(s), {n_refs} reference(s) each, {args.backend} backend, "
        f"{summary.seconds:.1f} s"
    )
    if args.reference:
        print("  references (every scene): " + ", ".join(args.reference))
    for i, sc in enumerate(summary.scenes, start=1):
        print(f"  scene {i:3d}: frames {sc['start']:6d}-{sc['end'] - 1:6d}  references:")
        for ref in sc["references"]:
            where = "" if ref["frame"] is None else f" frame {ref['frame']}"
            score = "" if ref["score"] is None else f"{ref['score']:.3f}  "
            print(f"      {score}{ref['source']}{where}")
        _print_dropped(sc)
    return 0


def _print_dropped(scene: dict) -> None:
    """The references verification dropped from a scene, and its fallback when none was kept."""
    for ref in scene.get("dropped", []):
        where = "" if ref["frame"] is None else f" frame {ref['frame']}"
        print(f"      dropped (match {ref['match']:.3f}): {ref['source']}{where}")
    if scene.get("fallback"):
        how = {
            "grey": "grey",
            "prior": "with a faint tint of the pool's mean colour",
            "learned": "with the run's learned colour prior (faint colour by lightness and region)",
        }[scene["fallback"]]
        print(f"      no reference matches this scene: written {how}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor colorize``."""
    p = subparsers.add_parser(
        "colorize",
        help="colorize a video (or a folder of videos) with your references or a workbook run's reference pool",
        description="Detect the scenes of VIDEO, take your --reference images (or retrieve each scene's references "
        "from the run's pool), colorize clip by clip and write a video with the same frames, timestamps, size, "
        "aspect, rotation and audio. A colour input is converted to grey first. A missing, unreadable or grey "
        "reference exits with status 2 and names it. A folder or glob with --out-dir colorizes every file and "
        "prints a summary table.",
    )
    p.add_argument("video", help="input video (grey or colour), or a folder / quoted glob of videos (with --out-dir)")
    p.add_argument("--out", default=None, help="output .mp4, .mov or .mkv (replaced only once the new one is complete)")
    p.add_argument("--out-dir", default=None, help="folder for the outputs of a folder or glob; done files are skipped")
    p.add_argument("--jobs", type=int, default=1, help="files colorized in parallel processes (default %(default)s)")
    p.add_argument("--dask", default=None, metavar="ADDRESS", help="run the files on a Dask distributed scheduler")
    p.add_argument("--ext", default=".mp4", choices=(".mp4", ".mov", ".mkv"), help="container of --out-dir outputs")
    p.add_argument("--run", default=None, help="workbook run folder (default: reports/latest)")
    p.add_argument(
        "--reference",
        action="append",
        metavar="PATH",
        default=[],
        help="your own colour reference, repeat for 1..5: an image (png, jpg, webp) or one frame of a colour video "
        "written clip.mp4#frame=N (from 0); the same references serve every scene (no retrieval)",
    )
    p.add_argument(
        "--references",
        type=int,
        default=5,
        help="without --reference: references per scene retrieved from the run's pool, 1..5 (default %(default)s)",
    )
    p.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="torch (colorizer.pt) or onnx (notebook 06's export)",
    )
    p.add_argument(
        "--gallery",
        default=None,
        help="search this gallery (`scenecolor gallery build`) or folder of images/videos for references instead of "
        "the run's own pool",
    )
    add_encoding_arguments(p)
    p.add_argument(
        "--verify-threshold",
        type=float,
        default=VERIFY_THRESHOLD,
        help="a retrieved reference is kept only when this share (0..1) of a scene's pixels match it (optical flow, "
        "cycle-consistent); a scene with none kept gets the --fallback; 0 keeps every reference (default %(default)s)",
    )
    p.add_argument(
        "--fallback",
        choices=FALLBACKS,
        default=FALLBACK,
        help="what a scene with no verified reference gets: grey (no colour), prior (half the pool's mean colour) or "
        "learned (the run's colour prior: the training frames' mean colour by lightness and region, faint; "
        "written by notebook 04) (default %(default)s)",
    )
    p.add_argument(
        "--merge",
        choices=("hybrid", "luma", "lab"),
        default="hybrid",
        help="how colours join the full-resolution frames: luma keeps the input's own Y plane bit for bit and "
        "writes new chroma (fast); hybrid also shifts Y by the colours' change of luma at the working size (as "
        "fast, as close to the original as lab); lab keeps the CIE L and converts every pixel (default %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary (scenes, references kept and dropped)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p)
    p.set_defaults(func=_colorize)


def _bench(args: argparse.Namespace) -> int:
    import pandas as pd

    from scenecolor.colorize.model import load_colorizer
    from scenecolor.core.device import resolve_device
    from scenecolor.workbook.colorize.bench import TARGET_MS_PER_FRAME, bench_colorize

    model, flow_method = None, "dis_fast"
    if args.run is not None:  # the network a user's `scenecolor colorize --run` runs, its flow method included
        from scenecolor.workbook.runs import colorizer_checkpoint, resolve_run_dir

        model, ckpt = load_colorizer(colorizer_checkpoint(resolve_run_dir(args.run)))
        flow_method = str((ckpt.get("config") or {}).get("train", {}).get("flow_method", flow_method))
    result = bench_colorize(
        resolution=args.resolution,
        n_refs=args.references,
        clip_len=args.clip_len,
        repeats=args.repeats,
        threads=args.threads,
        model=model,
        flow_method=flow_method,
        device=resolve_device(args.device),
    )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.max_colwidth", 120):
        print(pd.DataFrame(result.rows()).to_string(index=False))
    verdict = "meets" if result.meets_target else "misses"
    print(
        f"\n{result.ms_per_frame_best:.1f} ms per {result.resolution}x{result.resolution} frame with {result.n_refs} "
        "references "
        f"(best of {result.repeats}, median {result.ms_per_frame_median:.1f}) on "
        f"{result.device if result.device != 'cpu' else f'{result.threads} CPU threads'}: "
        f"{result.speedup_vs_paper:.0f}x the paper's 2.6 s (RTX 3090); {verdict} the {TARGET_MS_PER_FRAME:.0f} ms "
        "target.\n"
        f"{result.gflop_per_frame:.3f} GFLOP per frame would take {result.ms_at_matmul_rate:.1f} ms at this machine's "
        "measured "
        f"{result.matmul_gflops:.0f} GFLOP/s matmul rate ({result.ms_per_frame_best / result.ms_at_matmul_rate:.1f}x "
        "that bound)."
    )
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench colorize``."""
    p = bench_subparsers.add_parser(
        "colorize", help="colorizer speed per frame beside its FLOP count and the matmul rate"
    )
    p.add_argument("--resolution", type=int, default=224, help="working resolution (default %(default)s, as the paper)")
    p.add_argument("--references", type=int, default=5, help="references per scene (default %(default)s)")
    p.add_argument("--clip-len", type=int, default=8, help="frames per clip (default %(default)s)")
    p.add_argument(
        "--repeats", type=int, default=5, help="timed repeats; the best is the headline (default %(default)s)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice, all cores)")
    p.add_argument(
        "--run",
        default=None,
        help="time this workbook run's trained colorizer (e.g. reports/latest); default: a freshly initialised "
        "full-width network",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_device_argument(p)
    p.set_defaults(func=_bench)
