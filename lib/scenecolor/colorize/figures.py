"""Figures of the colorizer-training step: training curves and validation frames next to their references."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from scenecolor.colorize.data import ClipSet, make_batch
from scenecolor.colorize.train import TrainConfig
from scenecolor.core.color import lab_to_rgb


def plot_curves(history: list[dict[str, Any]]) -> plt.Figure:
    """Train and validation loss per epoch; validation PSNR (``val_pool`` references) beside the grey output's and
    the references' mean ab painted everywhere (Reinhard's global transfer); and, when the history has it, the
    exemplar-protocol validation PSNR (first frame = the only reference) that ``select_best`` ranks epochs by,
    beside the flow candidate alone, the most confident candidate and paste, with the selected epoch marked."""
    epochs = [h["epoch"] for h in history]
    exemplar = all("val_psnr_exemplar" in h for h in history)
    fig, axes = plt.subplots(1, 3 if exemplar else 2, figsize=(15 if exemplar else 10, 3.4))
    ax_loss, ax_psnr = axes[0], axes[1]
    train = [(h["epoch"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    if train:
        ax_loss.plot(*zip(*train), "o-", label="train (augmented, R drawn 1..5)")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss (Huber + temporal)", title="loss")
    ax_loss.legend()
    ax_psnr.plot(epochs, [h["val_psnr"] for h in history], "s-", color="C1", label="ours")
    ax_psnr.plot(epochs, [h["val_psnr_gray"] for h in history], "--", color="grey", label="grey output (ab = 0)")
    if all("val_psnr_mean_ab" in h for h in history):  # histories written before this line existed lack it
        ax_psnr.plot(
            epochs, [h["val_psnr_mean_ab"] for h in history], ":", color="C2", label="references' mean ab (Reinhard)"
        )
    ax_psnr.set(xlabel="epoch", ylabel="PSNR (dB, RGB)", title="validation PSNR (retrieved references)")
    ax_psnr.legend()
    if exemplar:
        ax_ex = axes[2]
        ax_ex.plot(epochs, [h["val_psnr_exemplar"] for h in history], "s-", color="C1", label="ours")
        lines = (
            ("val_psnr_exemplar_best_candidate", "most confident candidate (no learning)", "-.", "C0"),
            ("val_psnr_exemplar_flow", "flow candidate alone", "--", "C2"),
            ("val_psnr_exemplar_paste", "reference pasted", ":", "grey"),
        )
        for key, label, style, color in lines:
            if all(key in h for h in history):
                ax_ex.plot(epochs, [h[key] for h in history], style, color=color, label=label)
        selected = history[-1].get("selected_epoch")
        if selected is not None:
            score = next(h["val_psnr_exemplar"] for h in history if h["epoch"] == selected)
            ax_ex.plot([selected], [score], "*", ms=14, color="C3", label=f"selected (epoch {selected})")
        ax_ex.set(xlabel="epoch", ylabel="PSNR (dB, RGB)", title="exemplar protocol on val shots")
        ax_ex.legend(fontsize=8)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def _rgb(lab: np.ndarray) -> np.ndarray:
    return lab_to_rgb(lab.astype(np.float32))


@torch.no_grad()
def plot_samples(
    model: torch.nn.Module,
    data: ClipSet,
    cfg: TrainConfig,
    n_clips: int = 4,
    n_refs: int | None = None,
    pool: str | None = None,
) -> plt.Figure:
    """For ``n_clips`` validation clips (spread over the set): the middle frame's grey input, the
    references (of ``pool``, default the validation pool), our colorization and the ground truth."""
    n_refs = n_refs or cfg.max_refs
    pool = pool or cfg.val_pool
    picks = np.unique(np.linspace(0, len(data) - 1, min(n_clips, len(data))).round().astype(int)).tolist()
    gray, refs, true_ab = make_batch(data, picks, n_refs, pool)
    model.eval()
    device = next(model.parameters()).device
    pred_ab = model(gray.to(device), refs.to(device)).cpu()
    mid = gray.shape[2] // 2
    cols = 3 + n_refs
    fig, axes = plt.subplots(len(picks), cols, figsize=(1.6 * cols, 1.7 * len(picks)), squeeze=False)
    for row, clip in enumerate(picks):
        lightness = gray[row, 0, mid].numpy() * 100.0
        panels = [np.repeat(gray[row, 0, mid].numpy()[..., None], 3, axis=2)]
        panels += [_rgb(refs[row, r].permute(1, 2, 0).numpy()) for r in range(n_refs)]
        panels.append(_rgb(np.dstack([lightness, pred_ab[row, :, mid].permute(1, 2, 0).numpy()])))
        panels.append(_rgb(np.dstack([lightness, true_ab[row, :, mid].permute(1, 2, 0).numpy()])))
        titles = ["grey input"] + [f"ref {r + 1}" for r in range(n_refs)] + ["ours", "ground truth"]
        for col, (img, title) in enumerate(zip(panels, titles)):
            ax = axes[row, col]
            ax.imshow(np.clip(img, 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
        axes[row, 0].set_ylabel(data.clip_shots[clip], fontsize=7)
    fig.tight_layout()
    return fig
