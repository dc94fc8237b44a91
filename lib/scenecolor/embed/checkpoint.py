"""Loading a trained embedder (``embedder.pt``) for inference, without the training code."""

from __future__ import annotations

from pathlib import Path

from scenecolor.core import training
from scenecolor.core.errors import CheckpointError
from scenecolor.embed.config import TrainConfig
from scenecolor.embed.model import ARCH, Embedder, load_embedder


def load_trained_embedder(path: str | Path) -> tuple[Embedder, TrainConfig]:
    """The embedder of ``embedder.pt`` (eval mode) and the TrainConfig it was trained with."""
    ckpt = training.load_checkpoint(path, arch=ARCH, restore_rng=False)
    saved = (ckpt.get("config") or {}).get("train")
    if not isinstance(saved, dict):
        raise CheckpointError(f"checkpoint '{path}' lacks its training config; re-run the embedder-training step")
    # checkpoints written before grey queries existed were trained on colour frames on both sides
    return load_embedder(path), TrainConfig(**{"pairing": "color", **saved})
