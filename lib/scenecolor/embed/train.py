"""Training the embedder with the triplet loss: its batches, validation and checkpoint, on the shared loop.

One function, :func:`train_embedder`, serves the embedder-training step, ``scenecolor embed-train`` and ``torchrun``
(``python -m scenecolor.cli.train embedder ...``): it gives :func:`scenecolor.core.loop.train_epochs`
one P x K triplet step and the validation; the loop owns resume, the (seed, epoch, rank) generator
that draws every batch and mines every triplet, DDP reductions, the history and the checkpoint after
every epoch, so a run resumed from ``checkpoints/last.pt`` ends with exactly the weights of one that
never stopped, and every rank of a DDP run with the same weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenecolor.core import loop, training
from scenecolor.data.frames import FrameStore
from scenecolor.embed.config import TrainConfig
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

    Also the "untrained" baseline of the reference-selection step: same architecture and initialisation, no training.
    """
    torch.manual_seed(cfg.seed)
    return build_embedder(cfg.model_config(), cfg.pretrained)


@dataclass
class TrainResult(loop.TrainResult):
    """A finished (or stopped) training run and where its initial weights came from."""

    init_note: str = ""


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
    train_ids, train_labels = _split(store, "train")
    val_ids, val_labels = _split(store, "val")
    val_trip = validation_triplets(val_labels, cfg.val_triplets, cfg.seed)
    model, init_note = initial_embedder(cfg)
    model = model.to(info.device)
    optimizer = make_optimizer(model, cfg)

    def step(net: torch.nn.Module, epoch: int, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, dict]:
        pos = sample_pk_batch(train_labels, cfg.shots_per_batch, cfg.frames_per_shot, rng)
        ids = train_ids[pos]
        frames = store.uint8(ids)
        x = augment_frames(frames, cfg.input_size, rng) if cfg.augment else to_input(frames, cfg.input_size)
        emb, anchors = _pair_forward(net, x.to(info.device), cfg.pairing)
        trip = mine_triplets(emb, train_labels[pos], ids, cfg.mining, cfg.margin, rng, anchors=anchors)
        loss, acc = triplet_loss(emb, trip.to(emb.device), cfg.margin, anchors=anchors)
        return loss, {"acc": acc.item()}

    def validate() -> dict[str, float]:
        return {**evaluate_triplets(model, store, val_ids, val_trip, cfg, info.device), "p": model.pool.p.item()}

    def describe(h: dict[str, Any]) -> str:
        return (
            f"train loss {h['train_loss']:.4f} acc {h['train_acc']:.3f} | val loss {h['val_loss']:.4f} acc "
            f"{h['val_acc']:.3f} separation {h['val_separation']:.3f} | p {h['p']:.3f}"
        )

    batch = cfg.shots_per_batch * cfg.frames_per_shot
    result = loop.train_epochs(
        model,
        optimizer,
        step=step,
        validate=validate,
        checkpoint=Path(out_dir) / LAST_CHECKPOINT,
        arch=ARCH,
        config=_checkpoint_config(model.config, cfg, store_digest(store)),
        resume_key=cfg.resume_key(),
        resume_checks=("history_format",),
        epochs=cfg.epochs,
        batches_per_epoch=cfg.batches_per_epoch or max(1, math.ceil(len(train_ids) / batch)),
        seed=cfg.seed,
        stats=("acc",),
        info=info,
        describe=describe,
        resume=resume,
        stop_after=stop_after,
        progress=progress,
        log=log,
    )
    return TrainResult(**vars(result), init_note=init_note)


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
