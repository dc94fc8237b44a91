"""``scenecolor gallery build SOURCE... --out GALLERY`` and ``scenecolor bench gallery``."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from scenecolor.cli import add_device_argument
from scenecolor.embed.config import POOLINGS


def _build(args: argparse.Namespace) -> int:
    from scenecolor.retrieval.gallery import GalleryWarning
    from scenecolor.workbook.runs import build_gallery_with_run  # torch, faiss, ... load only when the command runs

    with warnings.catch_warnings():
        warnings.simplefilter("always", GalleryWarning)
        warnings.showwarning = _show_warning  # one line per skipped file, on stderr
        report = build_gallery_with_run(
            args.sources,
            args.out,
            run_dir=args.run,
            frames_per_shot=args.frames_per_shot,
            index_kind=args.index_kind,
            exact_max=args.exact_max,
            batch_size=args.batch_size,
            workers=args.workers,
            device=args.device,
        )
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    recall = "" if report.recall_at_1 is None else f", recall@1 vs exact {report.recall_at_1:.3f}"
    print(
        f"{report.gallery}: {report.vectors} vectors ({report.index_kind} index{recall}); "
        f"{report.files_encoded} file(s) encoded (+{report.vectors_added} vectors), "
        f"{report.files_unchanged} unchanged, "
        f"{len(report.files_skipped)} skipped; {report.seconds:.1f} s ({report.frames_per_s:.1f} frames/s)"
    )
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor gallery build``."""
    p = subparsers.add_parser("gallery", help="index your own images and videos as colour references")
    sub = p.add_subparsers(dest="gallery_command", required=True, metavar="ACTION")
    b = sub.add_parser(
        "build",
        help="index folders of images and videos into a gallery (incremental)",
        description="Encode every image and a few frames of each shot of every video under SOURCE (files or "
        "folders, recursively) with a run's embedder into GALLERY: a faiss index and a table of (source, frame, "
        "content hash). Run it again on a grown folder and only new or changed files are encoded; an unreadable "
        "file is skipped with a warning. `scenecolor colorize --gallery GALLERY` searches it.",
    )
    b.add_argument("sources", nargs="+", metavar="SOURCE", help="image/video files or folders")
    b.add_argument("--out", required=True, help="gallery folder (created, or grown when it exists)")
    b.add_argument("--run", default=None, help="workbook run folder whose embedder encodes (default: reports/latest)")
    b.add_argument("--frames-per-shot", type=int, default=3, help="frames kept per video shot (default %(default)s)")
    b.add_argument(
        "--index-kind",
        choices=("auto", "flat", "ivfpq", "hnsw"),
        default="auto",
        help="faiss index; auto = exact up to --exact-max vectors, IVF-PQ above (default %(default)s)",
    )
    b.add_argument("--exact-max", type=int, default=50_000, help="largest gallery searched exactly (auto)")
    b.add_argument("--batch-size", type=int, default=64, help="frames encoded per batch (default %(default)s)")
    b.add_argument(
        "--workers",
        type=int,
        default=2,
        help="threads, each decoding a chunk of files and encoding it on one core (default %(default)s)",
    )
    b.add_argument("--json", action="store_true", help="print the build report as JSON")
    add_device_argument(b)
    b.set_defaults(func=_build)


def _bench(args: argparse.Namespace) -> int:
    from scenecolor.core.device import resolve_device
    from scenecolor.workbook.retrieval.bench import bench_gallery

    row = bench_gallery(
        args.images,
        backbone=args.backbone,
        input_size=args.size,
        pooling=args.pooling,
        batch_size=args.batch_size,
        workers=args.workers,
        scenes=args.scenes,
        work_dir=args.work_dir,
        device=resolve_device(args.device),
    )
    if args.json:
        print(json.dumps(row))
        return 0
    for key, value in row.items():
        print(f"  {key:44s} {value:.4g}" if isinstance(value, float) else f"  {key:44s} {value}")
    verdict = "meets" if row["build / half floor"] >= 1 else "misses"
    print(
        f"\nbuild rate {row['build frames/s']:.1f} frames/s = {row['build / floor']:.2f} x the FLOP floor "
        f"({row['FLOP floor frames/s']:.1f} frames/s, measured now): {verdict} the half-floor target; "
        f"search {row['search ms per scene']:.2f} ms per scene (+ {row['query encode ms per scene']:.1f} ms to encode "
        f"its {row['queries per scene']} grey frames)"
    )
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench gallery``."""
    p = bench_subparsers.add_parser(
        "gallery", help="gallery build rate on synthetic 640x360 images vs the embedder's FLOP floor; query time"
    )
    p.add_argument("--images", type=int, default=10_000, help="synthetic 640x360 JPEGs (default %(default)s)")
    p.add_argument("--backbone", default="resnet18", help="embedder backbone (default %(default)s, the sample profile)")
    p.add_argument("--size", type=int, default=96, help="embedder input side (default %(default)s)")
    p.add_argument(
        "--pooling", choices=POOLINGS, default="regional", help="embedder pooling (default %(default)s, the sample's)"
    )
    p.add_argument("--batch-size", type=int, default=64, help="frames per forward pass (default %(default)s)")
    p.add_argument(
        "--workers", type=int, default=2, help="threads, each decoding and encoding chunks (default %(default)s)"
    )
    p.add_argument("--scenes", type=int, default=50, help="scenes queried for the search time (default %(default)s)")
    p.add_argument("--work-dir", default=None, help="keep the synthetic images here between runs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_device_argument(p)
    p.set_defaults(func=_bench)
