"""Figures of the edge-export step: speed and size per runtime beside the paper's quoted figures, and frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scenecolor.core.color import lab_to_rgb
from scenecolor.workbook.export.compare import EdgeInputs


def plot_speed_size(table: pd.DataFrame) -> plt.Figure:
    """ms per frame (log scale) and file size per runtime; the paper's quoted row in grey, hatched."""
    fig, (ax_ms, ax_mb) = plt.subplots(1, 2, figsize=(11, 0.55 * len(table) + 1.6), sharey=True)
    labels = list(table["runtime"])
    y = np.arange(len(labels))
    colours = ["lightgrey" if s == "quoted" else f"C{i}" for i, s in enumerate(table["source"])]
    hatches = ["//" if s == "quoted" else "" for s in table["source"]]
    for ax, col, title in (
        (ax_ms, "ms / frame", "time per frame (ms, log scale)"),
        (ax_mb, "file (MB)", "model file (MB)"),
    ):
        bars = ax.barh(y, table[col], color=colours)
        for bar, hatch, value in zip(bars, hatches, table[col]):
            bar.set_hatch(hatch)
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.3g}", va="center", fontsize=8)
        ax.set_title(title)
    ax_ms.set_xscale("log")
    ax_ms.set_yticks(y, labels)
    ax_ms.invert_yaxis()
    ax_mb.set_xlim(0, table["file (MB)"].max() * 1.25)
    fig.suptitle("measured on this machine (colours) beside the paper's quoted figures (grey, hatched)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_frames(data: EdgeInputs, outputs: dict[str, np.ndarray], clip: int = 0, frame: int = -1) -> plt.Figure:
    """One test frame: ground truth, each runtime's colours, and under each its |ab - first runtime's ab|.

    ``outputs`` maps a runtime name to its ab of every test clip [n, 2, T, S, S]. The difference
    maps share one colour scale, from 0 to the largest difference of any runtime (at least 0.05 ab).
    """
    names = list(outputs)
    lab = data.test.lab[data.test.clips[clip]]
    frame = frame if frame >= 0 else lab.shape[0] // 2
    lightness = lab[frame, ..., 0]
    abs_ = {n: np.moveaxis(outputs[n][clip][:, frame], 0, -1) for n in names}
    diffs = {n: np.abs(abs_[n] - abs_[names[0]]).max(-1) for n in names}
    vmax = max(0.05, max(float(d.max()) for d in diffs.values()))
    fig, axes = plt.subplots(2, len(names) + 1, figsize=(2.2 * (len(names) + 1), 5.2), layout="constrained")
    axes[0, 0].imshow(lab_to_rgb(lab[frame]))
    axes[0, 0].set_title("ground truth", fontsize=8)
    axes[1, 0].imshow(lightness, cmap="gray", vmin=0, vmax=100)
    axes[1, 0].set_title("grey input (L)", fontsize=8)
    for j, name in enumerate(names, start=1):
        axes[0, j].imshow(lab_to_rgb(np.concatenate([lightness[..., None], abs_[name]], -1)))
        axes[0, j].set_title(name.replace(" (", "\n("), fontsize=8)
        im = axes[1, j].imshow(diffs[name], cmap="magma", vmin=0, vmax=vmax)
        axes[1, j].set_title(f"max |ab diff| {diffs[name].max():.2g}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8, label=f"|ab - {names[0]}|")
    return fig


def table_for_display(
    table: pd.DataFrame,
    digits: Sequence[tuple[str, int]] = (
        ("file (MB)", 2),
        ("parameters (M)", 3),
        ("ms / frame", 1),
        ("ms refs / scene", 1),
        ("speed-up vs torch", 2),
        ("PSNR test (dB)", 2),
        ("PSNR change (dB)", 3),
    ),
) -> Any:
    """The table rounded for reading (the recorded table keeps full precision)."""
    out = table.copy()
    for col, n in digits:
        if col in out:
            out[col] = out[col].round(n)
    return out.astype(object).where(out.notna(), "")
