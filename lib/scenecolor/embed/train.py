"""Training the embedder with the triplet loss: resumable, deterministic, DDP-capable.

One function, :func:`train_embedder`, serves the notebook, the CLI and ``torchrun``: with one
process it trains in place; launched by ``torchrun --nproc_per_node N`` (see
:func:`scenecolor.core.training.torchrun_command`) every rank draws its own P x K batches and
DistributedDataParallel averages the gradients, so all ranks end with the same weights.

Every random choice of an epoch (which shots and frames form a batch, which triplets are
mined) comes from a generator seeded by (seed, epoch, rank), and the checkpoint written after
every epoch holds the model, the optimizer and all RNG states: an interrupted run resumed from
its last checkpoint finishes with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from scenecolor.core import training
from scenecolor.core.errors import ScenecolorError
from scenecolor.data.frames import FrameStore
from scenecolor.embed.config import TrainConfig, add_train_arguments
from scenecolor.embed.model import (
    ARCH,
    Embedder,
    EmbedderConfig,
    augment_frames,
    build_embedder,
    check_triplet_labels,
    embed_frames,
    gallery_is_grey,
    grey_input,
    mine_triplets,
    sample_pk_batch,
    sample_triplets,
    separation_accuracy,
    to_input,
    triplet_loss,
)

LAST_CHECKPOINT = "checkpoints/last.pt"
HISTORY_FORMAT = 2  # bump when the per-epoch history gains fields: older checkpoints are then not resumed


def initial_embedder(cfg: TrainConfig) -> tuple[Embedder, str]:
    """The network exactly as training starts from it (seeded init or ImageNet weights) and where its weights came from.

    Also the "untrained" baseline of notebook 03: the same architecture and initialisation, no training.
    """
    torch.manual_seed(cfg.seed)
    return build_embedder(cfg.model_config(), cfg.pretrained)


@dataclass
class TrainResult:
    """A finished (or stopped) training run."""

    model: Embedder
    history: list[dict[str, Any]]
    checkpoint: Path
    init_note: str
    resumed_from_epoch: int


def _split(store: FrameStore, split: str) -> tuple[np.ndarray, np.ndarray]:
    ids = store.ids(split=split)
    labels = store.index.loc[ids, "shot_id"].to_numpy().astype(str)
    check_triplet_labels(labels, f"frame store '{store.folder}', split '{split}'")
    return ids, labels


def validation_triplets(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The fixed validation triplets (positions into the split), the same for every epoch."""
    return sample_triplets(labels, n, np.random.default_rng([seed, 7919]))


@torch.no_grad()
def evaluate_triplets(
    model: torch.nn.Module,
    store: FrameStore,
    ids: np.ndarray,
    triplets: np.ndarray,
    cfg: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    """On the validation split: triplet loss and accuracy (share with d(a,p) < d(a,n)) on the fixed
    triplets, and the separation accuracy over all its frames (each anchor's hardest triplet).

    Anchors are always grey (the query of the task); positives and negatives are encoded as the
    gallery is under ``cfg.pairing``.
    """
    frames = store.uint8(ids)
    emb = torch.from_numpy(
        embed_frames(model, frames, cfg.input_size, device=device, grey=gallery_is_grey(cfg.pairing))
    )
    anchors = emb if gallery_is_grey(cfg.pairing) else None
    if anchors is None:
        anchors = torch.from_numpy(embed_frames(model, frames, cfg.input_size, device=device, grey=True))
    loss, acc = triplet_loss(emb, torch.from_numpy(triplets), cfg.margin, anchors=anchors)
    labels = store.index.loc[ids, "shot_id"].to_numpy()
    return {
        "val_loss": float(loss),
        "val_acc": float(acc),
        "val_separation": separation_accuracy(emb, labels, anchors=anchors),
    }


def _pair_forward(net: torch.nn.Module, x: torch.Tensor, pairing: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Embeddings of a batch as ``pairing`` wants them: (gallery-side embeddings, grey anchors or None).

    ``grey``: one pass on the batch's lightness (anchors are the same rows); ``grey_anchor``: one
    pass on the colour frames and their grey copies together (so batch norm sees both), split
    into colour rows (positives, negatives) and grey rows (anchors); ``color``: colour only.
    """
    if pairing == "grey":
        return net(grey_input(x)), None
    if pairing == "grey_anchor":
        both = net(torch.cat([x, grey_input(x)]))
        return both[: len(x)], both[len(x) :]
    return net(x), None


def make_optimizer(model: Embedder, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; GeM's p learns 10x faster and without weight decay (as in cnnimageretrieval-pytorch)."""
    pool = list(model.pool.parameters())
    rest = [p for name, p in model.named_parameters() if not name.startswith("pool.")]
    return torch.optim.AdamW(
        [{"params": rest}, {"params": pool, "lr": cfg.lr * 10, "weight_decay": 0.0}],
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
    )


def _checkpoint_config(model_cfg: EmbedderConfig, cfg: TrainConfig, data_digest: str = "") -> dict[str, Any]:
    return {
        "model": model_cfg.to_dict(),
        "train": asdict(cfg),
        "history_format": HISTORY_FORMAT,
        "data_digest": data_digest,
    }


def store_digest(store: FrameStore) -> str:
    """Digest of the frame store a run trains on (its frames and index: shots, splits): the resume key's data part."""
    return training.data_digest(*(p for p in (store.folder / "frames.npy", store.folder / "index.csv") if p.is_file()))


def train_embedder(
    store: FrameStore,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    info: training.DistInfo | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    progress: bool = True,
    log: Any = print,
) -> TrainResult:
    """Train on the store's ``train`` split, validate on ``val``, checkpoint every epoch into ``out_dir``.

    Args:
        store: the 00_data_prep frame store (shot labels and splits).
        cfg: the training settings.
        out_dir: where ``checkpoints/last.pt`` is written after every epoch.
        info: the process's place in a DDP job (default: one process, CUDA if available).
        resume: continue from ``checkpoints/last.pt`` when it was written with the same settings.
        stop_after: stop after this epoch (simulates an interruption; the checkpoint stays).
    """
    info = info or training.setup_distributed()
    out = Path(out_dir)
    ckpt_path = out / LAST_CHECKPOINT
    train_ids, train_labels = _split(store, "train")
    val_ids, val_labels = _split(store, "val")
    val_trip = validation_triplets(val_labels, cfg.val_triplets, cfg.seed)
    data_key = store_digest(store)

    model, init_note = initial_embedder(cfg)
    model_cfg = model.config
    model = model.to(info.device)
    optimizer = make_optimizer(model, cfg)
    start, history = (
        training.try_resume(
            ckpt_path,
            arch=ARCH,
            model=model,
            optimizer=optimizer,
            train_key=cfg.resume_key(),
            data_digest=data_key,
            log=log if info.is_main else (lambda *_: None),
            config_checks={"history_format": HISTORY_FORMAT},
        )
        if resume
        else (0, [])
    )
    if start == 0:
        val = evaluate_triplets(model, store, val_ids, val_trip, cfg, info.device)
        history = [
            {
                "epoch": 0,
                "train_loss": None,
                "train_acc": None,
                **val,
                "p": model.pool.p.detach().item(),
                "seconds": 0.0,
            }
        ]
    ddp = training.wrap_ddp(model, info)

    batch = cfg.shots_per_batch * cfg.frames_per_shot
    n_batches = cfg.batches_per_epoch or max(1, math.ceil(len(train_ids) / batch))
    per_rank = max(1, math.ceil(n_batches / info.world_size))
    last = min(cfg.epochs, stop_after) if stop_after is not None else cfg.epochs
    for epoch in range(start + 1, last + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch, info.rank])
        ddp.train()
        sums = [0.0, 0.0, 0.0]
        bar = tqdm(
            range(per_rank), desc=f"epoch {epoch}/{cfg.epochs}", disable=not (progress and info.is_main), leave=False
        )
        for _ in bar:
            pos = sample_pk_batch(train_labels, cfg.shots_per_batch, cfg.frames_per_shot, rng)
            ids = train_ids[pos]
            frames = store.uint8(ids)
            x = augment_frames(frames, cfg.input_size, rng) if cfg.augment else to_input(frames, cfg.input_size)
            emb, anchors = _pair_forward(ddp, x.to(info.device), cfg.pairing)
            trip = mine_triplets(emb, train_labels[pos], ids, cfg.mining, cfg.margin, rng, anchors=anchors)
            loss, acc = triplet_loss(emb, trip.to(emb.device), cfg.margin, anchors=anchors)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums = [sums[0] + loss.item(), sums[1] + acc.item(), sums[2] + 1]
            bar.set_postfix(loss=f"{sums[0] / sums[2]:.3f}")
        training.average_buffers(ddp, info)
        total = training.all_reduce_sum(sums, info)
        val = evaluate_triplets(model, store, val_ids, val_trip, cfg, info.device)
        history.append(
            {
                "epoch": epoch,
                "train_loss": total[0] / total[2],
                "train_acc": total[1] / total[2],
                **val,
                "p": model.pool.p.detach().item(),
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        training.save_checkpoint(
            ckpt_path,
            arch=ARCH,
            model=model,
            optimizer=optimizer,
            epoch=epoch,
            config=_checkpoint_config(model_cfg, cfg, data_key),
            history=history,
        )
        training.barrier(info)
        if info.is_main:
            h = history[-1]
            log(
                f"epoch {epoch}: train loss {h['train_loss']:.4f} acc {h['train_acc']:.3f} | val loss "
                f"{h['val_loss']:.4f} acc {h['val_acc']:.3f} separation {h['val_separation']:.3f} | p {h['p']:.3f} | "
                f"{h['seconds']:.1f} s"
            )
    model.eval()
    return TrainResult(
        model=model, history=history, checkpoint=ckpt_path, init_note=init_note, resumed_from_epoch=start
    )


def save_embedder(result: TrainResult, cfg: TrainConfig, path: str | Path) -> Path | None:
    """Write the trained embedder (weights + config + history, no optimizer) as ``embedder.pt``."""
    return training.save_checkpoint(
        path,
        arch=ARCH,
        model=result.model,
        optimizer=None,
        epoch=result.history[-1]["epoch"],
        config=_checkpoint_config(result.model.config, cfg),
        history=result.history,
        extra={"init": result.init_note},
    )


# -- command line (also the torchrun entry point) ----------------------------------------------------
def build_arg_parser() -> argparse.ArgumentParser:
    """``python -m scenecolor.embed.train train --store ... --out ...`` with every TrainConfig field."""
    parser = argparse.ArgumentParser(
        prog="python -m scenecolor.embed.train", description="Train the GeM embedder (runs under torchrun for DDP)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="train on a frame store"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train from the command line; under torchrun every rank runs this and prints its weight digest."""
    args = build_arg_parser().parse_args(argv)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    info = training.setup_distributed(device=args.device)
    try:
        return _train_from_args(args, cfg, info)
    except ScenecolorError as exc:
        print(f"rank {info.rank}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        training.cleanup_distributed(info)


def _train_from_args(args: argparse.Namespace, cfg: TrainConfig, info: training.DistInfo) -> int:
    store = FrameStore.open(args.store)
    result = train_embedder(
        store, cfg, args.out, info=info, resume=not args.no_resume, stop_after=args.stop_after, progress=info.is_main
    )
    if info.is_main:
        save_embedder(result, cfg, Path(args.out) / "embedder.pt")
    print(f"rank {info.rank}/{info.world_size} final weights sha256 {training.state_digest(result.model)}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
