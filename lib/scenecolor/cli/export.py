"""``scenecolor bench export``: the run's colorizer in torch and in notebook 06's ONNX files, timed in turns."""

from __future__ import annotations

import argparse
import json


def _bench(args: argparse.Namespace) -> int:
    import pandas as pd

    from scenecolor.export.models import COLORIZER_ONNX
    from scenecolor.export.tensorrt import tensorrt_skip_reason
    from scenecolor.workbook.export.compare import bench_exported
    from scenecolor.workbook.runs import COLORIZER_FILE, resolve_run_dir, step_file

    run = resolve_run_dir(args.run)
    table = bench_exported(
        step_file(run, "04_colorizer_training", COLORIZER_FILE),
        step_file(run, "06_edge_export", COLORIZER_ONNX).parent,
        size=args.size,
        n_refs=args.references,
        clip_len=args.clip_len,
        threads=args.threads,
        warmup=args.warmup,
        repeats=args.repeats,
    )
    if args.json:
        print(json.dumps(table.to_dict(orient="records")))
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 10):
        print(table.to_string(index=False))
    print(
        f"\n{args.size}x{args.size}, {args.references} references, {args.threads} thread(s), median of {args.repeats} "
        "calls taken "
        "in turns; references cached for ms / "
        f"frame.\n{tensorrt_skip_reason() or 'TensorRT is available: see notebook 06 for its engines.'}"
    )
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench export``."""
    p = bench_subparsers.add_parser(
        "export",
        help="colorizer speed: torch vs notebook 06's ONNX Runtime fp32 / int8 files, as ratios",
        description="Time the run's colorizer (torch eager, torch as --backend torch runs it) and every ONNX file "
        "notebook 06 "
        "exported, in turns on the same seeded clip, and print ms per frame and speed-ups against torch eager.",
    )
    p.add_argument("--run", default=None, help="workbook run folder (default: reports/latest)")
    p.add_argument("--size", type=int, default=224, help="frame side (default %(default)s, as the paper)")
    p.add_argument("--references", type=int, default=5, help="references per scene (default %(default)s)")
    p.add_argument("--clip-len", type=int, default=0, help="frames per clip (default: the trained clip length)")
    p.add_argument(
        "--threads", type=int, default=1, help="CPU threads for torch and ONNX Runtime alike (default %(default)s)"
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per runtime (default %(default)s)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls per runtime, median kept (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=_bench)
