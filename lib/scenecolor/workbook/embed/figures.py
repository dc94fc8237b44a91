"""Tables and figures of the embedder-training step: training curves and a 2-D picture of the embedding space."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import MaxNLocator

from scenecolor import paper
from scenecolor.core.errors import DataError
from scenecolor.data.frames import FrameStore
from scenecolor.embed.model import embed_frames

PAPER_TRIPLET_ACCURACY = paper.TRIPLET_ACCURACY  # quoted


def history_table(history: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-epoch history as a table (epoch 0 = before training)."""
    return pd.DataFrame(history).set_index("epoch")


def plot_training_curves(history: list[dict[str, Any]], quoted_accuracy: float = PAPER_TRIPLET_ACCURACY) -> plt.Figure:
    """Loss and triplet accuracy per epoch (train and validation), the paper's ~97% as a dashed line."""
    h = history_table(history)
    fig, (ax_loss, ax_acc, ax_p) = plt.subplots(1, 3, figsize=(13, 3.6))
    for col, label, style in (("train_loss", "train", "o-"), ("val_loss", "validation", "s-")):
        ax_loss.plot(h.index, h[col].astype(float), style, label=label)
    ax_loss.set(title="triplet loss", xlabel="epoch", ylabel="mean hinge loss")
    for col, label, style in (
        ("train_acc", "train (mined triplets)", "o-"),
        ("val_acc", "validation (random triplets)", "s-"),
        ("val_separation", "validation separation (hardest triplet)", "^-"),
    ):
        if col in h:
            ax_acc.plot(h.index, h[col].astype(float), style, label=label)
    ax_acc.axhline(quoted_accuracy, color="grey", ls="--", label=f"paper (quoted) {quoted_accuracy:.0%}")
    ax_acc.set(
        title="triplet accuracy  d(a,p) < d(a,n)",
        xlabel="epoch",
        ylim=(min(0.4, float(h.filter(["val_acc", "val_separation"]).min().min()) - 0.05), 1.02),
    )
    ax_p.plot(h.index, h["p"], "d-", color="tab:purple")
    ax_p.set(title="GeM exponent p (learned)", xlabel="epoch")
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    for ax in (ax_loss, ax_acc, ax_p):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of ``x`` on their first two principal components; (coords (n, 2), explained variance ratio (2,))."""
    if len(x) < 3:
        raise DataError(f"a PCA picture needs at least 3 embeddings, got {len(x)}")
    centred = x - x.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2 / max((s**2).sum(), 1e-12)
    return centred @ vt[:2].T, var[:2]


def embedding_projection(
    model: torch.nn.Module,
    store: FrameStore,
    split: str,
    input_size: int,
    device: str | torch.device | None = None,
    grey: bool = False,
) -> tuple[pd.DataFrame, np.ndarray]:
    """PCA of the embeddings of every frame of ``split`` (of their lightness only when ``grey``).

    Returns (table of frame_id, shot_id, video_id, pc1, pc2; explained variance).
    """
    ids = store.ids(split=split)
    emb = embed_frames(model, store.uint8(ids), input_size, device=device, grey=grey)
    coords, var = pca_2d(emb)
    meta = store.index.loc[ids, ["frame_id", "shot_id", "video_id"]].reset_index(drop=True)
    return meta.assign(pc1=coords[:, 0], pc2=coords[:, 1]), var


def plot_projections(projections: dict[str, tuple[pd.DataFrame, np.ndarray]]) -> plt.Figure:
    """Side-by-side PCA scatter plots (e.g. untrained vs trained), one colour per shot."""
    fig, axes = plt.subplots(1, len(projections), figsize=(5.2 * len(projections), 4.4), squeeze=False)
    for ax, (title, (table, var)) in zip(axes[0], projections.items()):
        shots = sorted(table["shot_id"].unique())
        cmap = plt.get_cmap("tab10" if len(shots) <= 10 else "tab20")
        for i, shot in enumerate(shots):
            t = table[table["shot_id"] == shot]
            ax.scatter(t["pc1"], t["pc2"], s=28, color=cmap(i % cmap.N), label=shot, alpha=0.85, edgecolors="none")
        ax.set(title=title, xlabel=f"PC1 ({var[0]:.0%} of variance)", ylabel=f"PC2 ({var[1]:.0%})")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title="shot")
    fig.tight_layout()
    return fig
