"""Figures of notebook 00: what the data set looks like before any model sees it.

Each function reads the built data set (the 00_data_prep artifact folder) and returns a
matplotlib figure; the notebook shows it and saves it with ``ctx.save_figure``.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scenecolor.core import video
from scenecolor.core.color import rgb_to_lab
from scenecolor.data.frames import FrameStore, Preprocess, preprocess_frame
from scenecolor.data.test_videos import read_test_videos

SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
STRIP_WIDTH_IN = 9.0  # widest transition strip, inches: ~1000 px at the 110 dpi notebooks save at, never shrunk


def _shots(out_dir: Path) -> pd.DataFrame:
    return pd.read_csv(out_dir / "shots.csv", dtype={"shot_id": str, "split": str})


def _mosaic(
    tiles: list[np.ndarray], columns: int, pad: int = 4, label_h: int = 0
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tiles of one size on a white canvas, ``label_h`` pixels left free above each; returns the
    canvas and each tile's top-left corner. One image draws far faster than a grid of axes."""
    h, w = tiles[0].shape[:2]
    rows = int(np.ceil(len(tiles) / columns))
    cell_h, cell_w = h + label_h + pad, w + pad
    canvas = np.full((rows * cell_h + pad, columns * cell_w + pad, 3), 255, dtype=np.uint8)
    corners = []
    for i, tile in enumerate(tiles):
        top = (i // columns) * cell_h + pad + label_h
        left = (i % columns) * cell_w + pad
        canvas[top : top + h, left : left + w] = tile
        corners.append((top, left))
    return canvas, corners


def contact_sheet(out_dir: str | os.PathLike[str], columns: int = 6, thumb: int = 160) -> Figure:
    """One thumbnail per shot (its middle stored frame), labelled with shot id, split and motion."""
    out = Path(out_dir)
    store = FrameStore.open(out)
    shots = _shots(out)
    tiles = []
    for shot_id in shots["shot_id"]:
        ids = store.ids(shot_id=shot_id)
        tiles.append(cv2.resize(store.uint8(ids[len(ids) // 2])[0], (thumb, thumb), interpolation=cv2.INTER_AREA))
    columns = min(columns, len(tiles))
    canvas, corners = _mosaic(tiles, columns, pad=6, label_h=34)
    fig, ax = plt.subplots(figsize=(canvas.shape[1] / 80, canvas.shape[0] / 80))
    ax.imshow(canvas)
    ax.axis("off")
    for (top, left), (_, shot) in zip(corners, shots.iterrows()):
        motion = "synthetic motion" if shot["synthetic_motion"] else "real video"
        ax.text(
            left + thumb / 2,
            top - 3,
            f"{shot['shot_id']}\n{shot['split']} - {motion}",
            ha="center",
            va="bottom",
            fontsize=7.5,
            color=SPLIT_COLOURS.get(shot["split"], "k"),
        )
    ax.set_title(
        f"{len(shots)} shots, {len(store)} stored frames (label colour = split: "
        + ", ".join(f"{k} {v}" for k, v in (("blue", "train"), ("orange", "val"), ("green", "test")))
        + ")",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def split_sizes(split_table: pd.DataFrame) -> Figure:
    """Bar chart of stored frames per split, real and synthetic-motion stacked."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    splits = list(split_table.index)
    real = split_table["frames_real"].to_numpy()
    synth = split_table["frames_synthetic"].to_numpy()
    ax.bar(splits, real, color="#4c72b0", label="real video")
    ax.bar(splits, synth, bottom=real, color="#c44e52", label="photo + synthetic motion")
    for i, split in enumerate(splits):
        row = split_table.loc[split]
        ax.text(
            i,
            real[i] + synth[i],
            f"{int(row['frames'])} frames\n{int(row['sources'])} sources",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("stored frames")
    ax.set_ylim(0, max(1, (real + synth).max()) * 1.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Frames per split (splits are drawn per source: no shot crosses a split)", fontsize=9)
    fig.tight_layout()
    return fig


def most_colourful_real_shot(out_dir: str | os.PathLike[str]) -> str:
    """The real-video shot whose stored frames have the largest mean chroma |ab| (a telling example)."""
    out = Path(out_dir)
    store = FrameStore.open(out)
    shots = _shots(out)
    real = (
        shots.loc[~shots["synthetic_motion"].astype(bool), "shot_id"]
        if (~shots["synthetic_motion"].astype(bool)).any()
        else shots["shot_id"]
    )
    chroma = {s: float(np.hypot(*np.moveaxis(store.lab(store.ids(shot_id=s))[..., 1:], -1, 0)).mean()) for s in real}
    return max(chroma, key=chroma.get)


def preprocessing_example(
    out_dir: str | os.PathLike[str], prep: Preprocess, shot_id: str | None = None, frame_in_shot: int = 10
) -> Figure:
    """A clip frame before and after pre-processing, and the L, a, b channels of the stored frame.

    ``shot_id`` None picks :func:`most_colourful_real_shot`; ``frame_in_shot`` is clipped to the shot.
    """
    out = Path(out_dir)
    shot_id = shot_id or most_colourful_real_shot(out)
    shots = _shots(out).set_index("shot_id")
    clip = out / shots.loc[shot_id, "clip"]
    frame_in_shot = int(min(frame_in_shot, shots.loc[shot_id, "n_frames"] - 1))
    original = next(itertools.islice(video.iter_frames(clip), frame_in_shot, None))
    stored = preprocess_frame(original, prep)
    lab = rgb_to_lab(stored)
    fig, axes = plt.subplots(
        1, 5, figsize=(17, 3.4), gridspec_kw={"width_ratios": [original.shape[1] / original.shape[0], 1, 1, 1, 1]}
    )
    axes[0].imshow(original)
    axes[0].set_title(f"clip frame {original.shape[1]}x{original.shape[0]}", fontsize=9)
    axes[1].imshow(stored)
    axes[1].set_title(f"stored {prep.size}x{prep.size}, mean filter {prep.mean_filter}", fontsize=9)
    axes[2].imshow(lab[..., 0], cmap="gray", vmin=0, vmax=100)
    axes[2].set_title("L (network input), 0..100", fontsize=9)
    lim = float(max(20.0, np.ceil(np.percentile(np.abs(lab[..., 1:]), 99.5) / 10) * 10))  # one scale for a and b
    for ax, ch, name in ((axes[3], 1, "a (green-red)"), (axes[4], 2, "b (blue-yellow)")):
        im = ax.imshow(lab[..., ch], cmap="coolwarm", vmin=-lim, vmax=lim)
        ax.set_title(f"{name}: to predict", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"Pre-processing of {shot_id}, frame {frame_in_shot}", fontsize=11)
    fig.tight_layout()
    return fig


def test_video_strip(out_dir: str | os.PathLike[str], video_id: str, context: int = 2, thumb_w: int = 128) -> Figure:
    """For each transition of a test video, one row: the frames from ``start - context`` to
    ``end + context``, the ground-truth cut frame boxed in red and every frame numbered."""
    out = Path(out_dir)
    record = next(v for v in read_test_videos(out) if v["video_id"] == video_id)
    thumb_h = max(2, int(round(thumb_w * 9 / 16 / 2)) * 2)
    frames = video.read_frames(out / record["path"], size=(thumb_w, thumb_h))
    transitions = record["transitions"]
    spans = [
        (max(0, t["start"] - context), min(len(frames), max(t["end"], t["cut"] + 1) + context)) for t in transitions
    ]
    columns = max(b - a for a, b in spans)
    # page-wide at most (STRIP_WIDTH_IN: ~1000 px at 110 dpi), 9 pt numbers: room above each frame for one line
    canvas_w = columns * (thumb_w + 6) + 6
    width_in = min(STRIP_WIDTH_IN, canvas_w / 90 + 0.8)
    px_per_in = canvas_w / (width_in - 0.8)
    blank = np.full((thumb_h, thumb_w, 3), 255, dtype=np.uint8)
    tiles, numbers = [], []
    for (a, b), _transition in zip(spans, transitions):
        for col in range(columns):
            f = a + col
            tiles.append(frames[f] if f < b else blank)
            numbers.append(f if f < b else None)
    canvas, corners = _mosaic(tiles, columns, pad=6, label_h=max(14, int(0.2 * px_per_in)))
    fig, ax = plt.subplots(figsize=(width_in, canvas.shape[0] / px_per_in + 0.3))
    ax.imshow(canvas)
    ax.axis("off")
    cuts = {t["cut"] for t in transitions}
    for (top, left), f in zip(corners, numbers):
        if f is None:
            continue
        is_cut = f in cuts
        ax.text(
            left + thumb_w / 2, top - 2, str(f), ha="center", va="bottom", fontsize=9, color="red" if is_cut else "k"
        )
        if is_cut:
            ax.add_patch(
                plt.Rectangle((left - 2, top - 2), thumb_w + 3, thumb_h + 3, fill=False, edgecolor="red", linewidth=2)
            )
    for row, t in enumerate(transitions):
        top, _ = corners[row * columns]
        ax.text(-4, top + thumb_h / 2, t["kind"], ha="right", va="center", fontsize=9)
    ax.set_title(f"{video_id}: frames around each transition (red box = ground-truth cut)", fontsize=10)
    fig.tight_layout()
    return fig
