"""``python -m scenecolor.cli.train embedder|colorizer ...``: the training entry point torchrun runs.

Every rank of ``torchrun --nproc_per_node N -m scenecolor.cli.train ...`` (the command
:func:`scenecolor.core.training.torchrun_command` writes) runs :func:`main`: it trains its share
under DistributedDataParallel and prints the sha256 of its final weights, equal on every rank.
With one process it trains in place. A network's flags are its TrainConfig's fields
(``--field-name value``; a bool as ``--name`` / ``--no-name``), the form in which
:func:`scenecolor.core.training.config_argv` writes a config back. ``scenecolor embed-train``
(``--nproc N``) and :func:`scenecolor.colorize.train.train_colorizer_torchrun` launch it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from scenecolor.cli import add_device_argument
from scenecolor.core.errors import ScenecolorError
from scenecolor.embed.config import TrainConfig as EmbedderTrainConfig

NETWORKS = ("embedder", "colorizer")


def config_class(network: str) -> type:
    """The TrainConfig dataclass of ``network`` (the colorizer's module imports torch, so only when asked)."""
    if network == "embedder":
        return EmbedderTrainConfig
    from scenecolor.colorize.train import TrainConfig

    return TrainConfig


def add_train_arguments(p: argparse.ArgumentParser, network: str) -> None:
    """The training options of ``network``: its inputs, --out, --device, resume control and one flag per
    TrainConfig field (its default the field's)."""
    p.add_argument("--store", required=True, help="frame store folder (00_data_prep artifacts or its frames/)")
    if network == "colorizer":
        p.add_argument("--references", required=True, help="references.csv of 03_reference_selection")
    p.add_argument("--out", required=True, help="output folder (the checkpoint and the trained network)")
    add_device_argument(p)
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this epoch (simulates an interruption)")
    for f in fields(config_class(network)):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            p.add_argument(flag, type=type(f.default), default=f.default, help=f"default {f.default!r}")


def train_config(args: argparse.Namespace, network: str) -> Any:
    """The validated TrainConfig of parsed arguments."""
    cls = config_class(network)
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def train_argv(args: argparse.Namespace, network: str) -> list[str]:
    """The command line of this module that reproduces ``args`` (what torchrun passes to every rank)."""
    from scenecolor.core.training import config_argv

    argv = [network, "--store", str(args.store)]
    argv += ["--references", str(args.references)] if network == "colorizer" else []
    argv += ["--out", str(args.out)]
    argv += ["--device", args.device] if args.device else []
    argv += ["--no-resume"] if args.no_resume else []
    argv += ["--stop-after", str(args.stop_after)] if args.stop_after is not None else []
    return argv + config_argv(train_config(args, network))


def build_arg_parser() -> argparse.ArgumentParser:
    """``python -m scenecolor.cli.train {embedder,colorizer} --store ... --out ... [--field value ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m scenecolor.cli.train",
        description="Train the embedder or the colorizer (every torchrun rank runs this; DDP when WORLD_SIZE > 1).",
    )
    sub = parser.add_subparsers(dest="network", required=True)
    add_train_arguments(sub.add_parser("embedder", help="the GeM embedder, on a frame store's shot labels"), "embedder")
    add_train_arguments(sub.add_parser("colorizer", help="the colorizer, with step 03's references"), "colorizer")
    return parser


def _train(args: argparse.Namespace, info: Any) -> Any:
    """Train the network ``args`` names on this rank; returns the trained model."""
    from scenecolor.data.frames import FrameStore

    cfg = train_config(args, args.network)
    store = FrameStore.open(args.store)
    run = {"info": info, "resume": not args.no_resume, "stop_after": args.stop_after, "progress": info.is_main}
    if args.network == "embedder":
        from scenecolor.embed.train import save_embedder, train_embedder

        result = train_embedder(store, cfg, args.out, **run)
        if info.is_main:
            save_embedder(result, cfg, Path(args.out) / "embedder.pt")
        return result.model
    from scenecolor.colorize.train import load_training_data, train_colorizer

    train_set, val_set = load_training_data(store, args.references, cfg)
    return train_colorizer(train_set, val_set, cfg, args.out, **run).model


def main(argv: list[str] | None = None) -> int:
    """Train from the command line; every rank prints its final weights' digest. Exit 2 on a ScenecolorError."""
    from scenecolor.core import training

    args = build_arg_parser().parse_args(argv)
    info = training.setup_distributed(device=args.device)
    try:
        model = _train(args, info)
        print(f"rank {info.rank}/{info.world_size} final weights sha256 {training.state_digest(model)}", flush=True)
        return 0
    except ScenecolorError as exc:
        print(f"rank {info.rank}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        training.cleanup_distributed(info)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
