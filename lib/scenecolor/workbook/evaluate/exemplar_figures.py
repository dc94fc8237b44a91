"""The evaluation step's pictures of the exemplar protocol, every frame at its clip's aspect ratio:
PSNR over time per method, frames over time per method, and our correspondence stage (the
warped ab before refinement and its confidence)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scenecolor.core.color8 import lab_to_rgb8, rgb8_to_lab
from scenecolor.evaluate.exemplar import ExemplarClip, ExemplarResult


def _grey(frame: np.ndarray) -> np.ndarray:
    lab = rgb8_to_lab(frame)
    lab[..., 1:] = 0
    return lab_to_rgb8(lab)


def psnr_over_time(per_frame: pd.DataFrame, methods: Sequence[str] | None = None) -> plt.Figure:
    """Mean PSNR over clips against the distance (in kept frames) from the reference, one line per method."""
    methods = list(methods or dict.fromkeys(per_frame["method"]))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for m in methods:
        grp = per_frame[per_frame["method"] == m].groupby("t")["PSNR"].agg(["mean", "count"])
        ax.plot(grp.index, grp["mean"], "o-" if "ours" in m else ".--", lw=2.2 if "ours" in m else 1.2, ms=4, label=m)
    ax.set_xlabel("frames after the reference (kept frames)")
    ax.set_ylabel("PSNR (dB), mean over clips")
    ax.set_title("Exemplar protocol: quality against the distance from the reference", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def frames_over_time(clip: ExemplarClip, result: ExemplarResult, methods: Sequence[str], n: int = 5) -> plt.Figure:
    """Rows: grey input, each method, ground truth; columns: the reference, then ``n`` scored frames over time."""
    scored = clip.frames[1:]
    idx = np.linspace(0, len(scored) - 1, min(n, len(scored))).round().astype(int)
    rows = [("grey input", [_grey(scored[t]) for t in idx])]
    rows += [(m, [result.outputs[(m, clip.clip_id)][t] for t in idx]) for m in methods]
    rows.append(("ground truth", [scored[t] for t in idx]))
    aspect = clip.frames.shape[2] / clip.frames.shape[1]
    fig, axes = plt.subplots(
        len(rows), len(idx) + 1, figsize=(1.7 * aspect * (len(idx) + 1), 1.75 * len(rows)), squeeze=False
    )
    for r, (name, imgs) in enumerate(rows):
        axes[r, 0].axis("off")
        for c, img in enumerate(imgs, start=1):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {int(clip.source_frames[idx[c - 1] + 1])}", fontsize=7)
        axes[r, 1].set_ylabel(name.split(" (")[0], fontsize=7)
    axes[0, 0].imshow(clip.frames[0])
    axes[0, 0].set_title(f"reference (frame {int(clip.source_frames[0])})", fontsize=7)
    fig.suptitle(f"{clip.clip_id} ({clip.source})", fontsize=9)
    fig.tight_layout()
    return fig


def correspondence_view(clip: ExemplarClip, result: ExemplarResult, ours: str, n: int = 4) -> plt.Figure:
    """For ``n`` frames: grey input, the warped ab before refinement (the candidates blended by the
    fusion weights, on the frame's L), the confidence (the fusion-weighted confidence of the
    candidates), each candidate's choice share, ours, the truth."""
    det = result.details[clip.clip_id]
    scored = clip.frames[1:]
    cand, conf, weights = (
        det["candidates"],
        det["confidence"],
        det["weights"],
    )  # (T, h, w, 8), (T, h, w, 4), (T, h, w, 4)
    h, w = scored.shape[1:3]
    idx = np.linspace(0, len(scored) - 1, min(n, len(scored))).round().astype(int)
    cols = [
        "grey input",
        "warped ab (before refinement)",
        "confidence",
        "flow / propagation / attention weight",
        "ours",
        "ground truth",
    ]
    aspect = w / h
    fig, axes = plt.subplots(len(idx), len(cols), figsize=(1.9 * aspect * len(cols), 1.9 * len(idx)), squeeze=False)
    for r, t in enumerate(idx):
        k = cand.shape[-1] // 2
        blend = (cand[t].reshape(*cand.shape[1:3], k, 2) * weights[t][..., None]).sum(2)
        blend = cv2.resize(blend, (w, h), interpolation=cv2.INTER_LINEAR)
        lab = rgb8_to_lab(scored[t])
        warped = lab_to_rgb8(np.concatenate([lab[..., :1], blend], axis=-1))
        c = cv2.resize((conf[t] * weights[t]).sum(-1), (w, h), interpolation=cv2.INTER_LINEAR)
        wt = cv2.resize(weights[t], (w, h), interpolation=cv2.INTER_LINEAR)
        mix = np.stack(
            [wt[..., 0], wt[..., 1] + wt[..., 2], wt[..., 3]], axis=-1
        )  # R: direct flow, G: propagation, B: attention
        panels = [_grey(scored[t]), warped, c, mix, result.outputs[(ours, clip.clip_id)][t], scored[t]]
        for col, img in enumerate(panels):
            ax = axes[r, col]
            ax.imshow(img, cmap="magma", vmin=0, vmax=1) if img.ndim == 2 else ax.imshow(
                np.clip(img, 0, 1) if img.dtype != np.uint8 else img
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[col], fontsize=7)
        axes[r, 0].set_ylabel(f"frame {int(clip.source_frames[t + 1])}", fontsize=7)
    fig.suptitle(
        f"{clip.clip_id}: our correspondence stage (weights: red = direct flow, green = propagation, blue = attention)",
        fontsize=8,
    )
    fig.tight_layout()
    return fig
