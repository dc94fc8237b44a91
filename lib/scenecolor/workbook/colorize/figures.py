"""Figures of the colorizer-training step: training curves and validation frames next to their references."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from scenecolor.colorize.backend import TorchColorizer
from scenecolor.colorize.data import ClipSet, make_batch
from scenecolor.colorize.exemplar import colorize_verified
from scenecolor.colorize.train import TrainConfig
from scenecolor.colorize.verify import VerifyConfig
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


def plot_confidence_sample(
    model: torch.nn.Module,
    data: ClipSet,
    cfg: TrainConfig,
    pools: tuple[str, ...] = ("in_domain", "open"),
    verify: VerifyConfig | None = None,
) -> plt.Figure:
    """One validation clip's middle frame, a row per reference pool: grey input, ours, ours' per-pixel confidence
    and the truth, page-wide.

    The clip is colorized as ``scenecolor colorize`` does it (:func:`scenecolor.colorize.exemplar.colorize_verified`:
    its ``max_refs`` references of the row's pool verified with ``verify``, default :class:`VerifyConfig`). The
    clip is the first of up to 8 spread over the set with a reference kept in ``pools[0]`` (else the first).
    The confidence is the fusion's blend confidence sum_k w_k * conf_k in [0, 1], 0 where no reference was kept.
    """
    verify = verify or VerifyConfig()
    backend = TorchColorizer(model, clip_len=cfg.clip_len, flow_method=cfg.flow_method)

    def run(i: int, pool: str) -> Any:
        refs = data.lab[data.refs[pool][i][: cfg.max_refs]]
        return colorize_verified(
            backend, data.lab[data.clips[i], ..., 0], refs, verify, clip_len=cfg.clip_len, square=True
        )

    candidates = np.unique(np.linspace(0, len(data) - 1, min(8, len(data))).round().astype(int)).tolist()
    candidates = [i for i in candidates if all(data.refs[p][i] for p in pools)]
    if not candidates:
        raise ValueError(f"the {data.split} set has no clip with references in {pools}")
    first = None
    for i in candidates:
        out = run(i, pools[0])
        first = first or (i, out)
        if out.verdict is not None and out.verdict.any_kept:
            first = (i, out)
            break
    clip = first[0]  # type: ignore[index]
    mid = len(data.clips[clip]) // 2
    truth = data.lab[data.clips[clip][mid]]
    fig, axes = plt.subplots(len(pools), 4, figsize=(9.0, 2.6 * len(pools) + 0.3), squeeze=False)
    for row, pool in enumerate(pools):
        out = first[1] if row == 0 else run(clip, pool)  # type: ignore[index]
        conf = out.confidence[mid] if out.confidence is not None else np.zeros(truth.shape[:2], np.float32)
        kept = int(out.verdict.keep.sum())
        n = len(data.refs[pool][clip][: cfg.max_refs])
        panels = [
            (np.dstack([truth[..., :1], np.zeros_like(out.ab[mid])]), "grey input"),
            (np.dstack([truth[..., :1], out.ab[mid]]), f"ours, {pool}: {kept} of {n} refs kept"),
            (None, f"confidence (mean {conf.mean():.2f})"),
            (truth, "ground truth"),
        ]
        for ax, (img, title) in zip(axes[row], panels):
            if img is None:
                im = ax.imshow(conf, cmap="magma", vmin=0, vmax=1)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=9)
            else:
                ax.imshow(np.clip(_rgb(img), 0, 1))
            ax.set_title(title, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"validation clip {data.clip_shots[clip]}, middle frame, one row per reference pool", fontsize=10)
    fig.tight_layout()
    return fig
