"""``scenecolor bench embed``: embedder frames/s against the FLOP floor, faiss flat vs IVF-PQ.

Also ``scenecolor embed-train``: the embedder's training entry point (one process, or
``--nproc N`` processes under torchrun with DDP).
"""

from __future__ import annotations

import argparse
import subprocess

from scenecolor.cli import add_device_argument
from scenecolor.cli.train import add_train_arguments, train_argv
from scenecolor.embed.config import BACKBONES, POOLINGS


def _bench(args: argparse.Namespace) -> int:
    import pandas as pd

    from scenecolor.core.device import resolve_device
    from scenecolor.workbook.embed.bench import bench_extraction
    from scenecolor.workbook.retrieval.bench import bench_search

    device = resolve_device(args.device)
    ext = bench_extraction(args.backbone, args.size, args.batch, args.batches, pooling=args.pooling, device=device)
    print(
        f"feature extraction ({ext.backbone} + {args.pooling} GeM, {ext.size}x{ext.size}, batch {ext.batch}, fp32, "
        f"{device}):"
    )
    print(f"  measured        {ext.frames_per_s:8.2f} frames/s")
    print(f"  model           {ext.gflop_per_frame:8.2f} GFLOP/frame ({ext.gflop_per_frame / 2:.2f} G multiply-adds)")
    print(f"  matmul rate     {ext.matmul_gflops:8.1f} GFLOP/s (fp32, measured now)")
    print(f"  FLOP floor      {ext.floor_frames_per_s:8.2f} frames/s")
    print(f"  fraction of floor: {ext.fraction_of_floor:.2f}")
    if args.n > 0:
        rows = bench_search(n=args.n, dim=args.dim, n_queries=args.queries, nprobe=args.nprobe, refine=args.refine)
        print(
            f"\nfaiss search, {args.n:,} synthetic clustered unit vectors of dim {args.dim}, {args.queries} queries, "
            "top-5 "
            f"(IVF-PQ: nprobe {args.nprobe}, {args.refine} x k re-ranked):"
        )
        with pd.option_context("display.width", 160, "display.max_columns", 10):
            print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        flat, approx = rows
        print(
            f"  IVF-PQ speed-up over exact: {flat['ms_per_query'] / approx['ms_per_query']:.1f}x at recall@1 "
            f"{approx['recall@1_vs_exact']:.3f}"
        )
    return 0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor bench embed``."""
    p = bench_subparsers.add_parser(
        "embed", help="embedder frames/s vs the FLOP floor; faiss flat vs IVF-PQ latency and recall@1"
    )
    p.add_argument(
        "--backbone", default="resnet50", choices=sorted(BACKBONES), help="default %(default)s (the paper's)"
    )
    p.add_argument("--size", type=int, default=224, help="frame side in pixels (default %(default)s)")
    p.add_argument("--pooling", choices=POOLINGS, default="gem", help="embedder pooling (default %(default)s)")
    p.add_argument("--batch", type=int, default=8, help="frames per forward pass (default %(default)s)")
    p.add_argument("--batches", type=int, default=3, help="timed batches, best kept (default %(default)s)")
    p.add_argument(
        "--n",
        type=int,
        default=1_000_000,
        help="synthetic vectors for the search bench (default %(default)s; 0 = skip)",
    )
    p.add_argument("--dim", type=int, default=128, help="vector dimension of the search bench (default %(default)s)")
    p.add_argument("--queries", type=int, default=1000, help="queries of the search bench (default %(default)s)")
    p.add_argument("--nprobe", type=int, default=16, help="IVF lists searched (default %(default)s)")
    p.add_argument(
        "--refine", type=int, default=64, help="IVF-PQ candidates re-ranked exactly, x k (default %(default)s)"
    )
    add_device_argument(p)
    p.set_defaults(func=_bench)


def _train(args: argparse.Namespace) -> int:
    from scenecolor.cli.train import main as train_main
    from scenecolor.core.training import TRAIN_ENTRY, torchrun_command

    argv = train_argv(args, "embedder")
    if args.nproc > 1:
        return subprocess.call(torchrun_command(TRAIN_ENTRY, argv, args.nproc))
    return train_main(argv)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scenecolor embed-train``."""
    p = subparsers.add_parser(
        "embed-train",
        help="train the GeM embedder on a frame store (DDP with --nproc > 1)",
        description="Train the GeM embedder with the triplet loss on a frame store's shot labels; with --nproc N > 1 "
        "it re-launches itself under torchrun (DistributedDataParallel, gloo on CPU, NCCL on GPUs).",
    )
    p.add_argument("--nproc", type=int, default=1, help="processes (torchrun + DDP when > 1; default %(default)s)")
    add_train_arguments(p, "embedder")
    p.set_defaults(func=_train)
