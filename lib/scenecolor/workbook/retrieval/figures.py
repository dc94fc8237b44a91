"""Figures of the reference-selection step: each query beside its top references, with scores."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scenecolor.core.errors import DataError
from scenecolor.data.frames import FrameStore
from scenecolor.retrieval.descriptors import lightness


def _spread(n: int, k: int) -> np.ndarray:
    """Up to ``k`` positions spread evenly over ``n`` items, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int))


def plot_reference_grid(
    queries: pd.DataFrame,
    query_frames: np.ndarray,
    refs: pd.DataFrame,
    store: FrameStore,
    *,
    pool: str,
    n_rows: int = 6,
    title: str = "",
) -> plt.Figure:
    """Rows of [grey query | top-R references of ``pool``], each reference titled with its shot and cosine score.

    ``n_rows`` queries are taken evenly spread over ``queries`` (so several videos show).

    A green frame marks a reference from the query's own shot, orange one from another shot of
    the same source video, none otherwise. ``queries`` are the rows of ``query_frames`` (with
    video_id, scene, shot_id); ``refs`` the matching rows of references.csv.
    """
    sel = refs[refs["pool"] == pool]
    if sel.empty:
        raise DataError(f"no references of pool '{pool}' to show")
    picks = _spread(len(queries), n_rows)  # spread over videos
    rows = queries.iloc[picks].reset_index(drop=True)
    top_r = int(sel["rank"].max())
    idx = store.index.set_index("frame_id")
    video_of = dict(zip(store.index["shot_id"], store.index["video_id"]))
    fig, axes = plt.subplots(len(rows), top_r + 1, figsize=(1.6 * (top_r + 1), 1.8 * len(rows)), squeeze=False)
    for r, q in rows.iterrows():
        ax = axes[r][0]
        ax.imshow(lightness(query_frames[picks[r]][None])[0], cmap="gray", vmin=0, vmax=100, interpolation="nearest")
        ax.set_title(f"{q['video_id']} scene {q['scene']}\nquery (shot {q['shot_id'] or '?'})", fontsize=7)
        mine = sel[(sel["video_id"] == q["video_id"]) & (sel["scene"] == q["scene"])].sort_values("rank")
        for c in range(1, top_r + 1):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c - 1 >= len(mine):
                ax.axis("off")
                continue
            ref = mine.iloc[c - 1]
            ref_shot = idx.loc[int(ref["ref_frame_id"]), "shot_id"]
            ax.imshow(store.uint8([int(ref["ref_frame_id"])])[0], interpolation="nearest")
            colour = (
                "tab:green"
                if ref_shot == q["shot_id"]
                else "tab:orange"
                if video_of.get(ref_shot) == video_of.get(q["shot_id"])
                else None
            )
            if colour:
                for spine in ax.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(3)
            ax.set_title(f"#{c} {ref_shot}\ncos {ref['score']:.3f}", fontsize=7)
        axes[r][0].set_xticks([])
        axes[r][0].set_yticks([])
    fig.suptitle(
        title or f"top-{top_r} references from the '{pool}' pool (green: same shot, orange: same source video)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def plot_metric_bars(table: pd.DataFrame, metrics: tuple[str, ...] = ("P@1", "P@5", "mAP")) -> plt.Figure:
    """Bar chart of retrieval metrics per descriptor, one panel per protocol (relevance = same shot)."""
    t = table[table["relevant if same"] == "shot"]
    protocols = list(dict.fromkeys(t["protocol"]))
    fig, axes = plt.subplots(1, len(protocols), figsize=(5.5 * len(protocols), 3.4), squeeze=False)
    for ax, protocol in zip(axes[0], protocols):
        part = t[t["protocol"] == protocol].set_index("descriptor")[list(metrics)]
        part.T.plot.bar(ax=ax, rot=0, width=0.8)
        ax.set(title=protocol, ylim=(0, 1.05), ylabel="score (relevant = same shot)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="lower center", ncol=3, framealpha=0.9)
    fig.tight_layout()
    return fig


def plot_gallery_grid(
    queries: pd.DataFrame,
    query_frames: np.ndarray,
    found: list[tuple[np.ndarray, np.ndarray]],
    thumbs: list[np.ndarray],
    labels: list[list[str]],
    *,
    n_rows: int = 6,
    title: str = "",
) -> plt.Figure:
    """Rows of [grey query | its top gallery frames], each titled with its label and mean cosine score.

    ``found`` holds (positions, scores) per query row; ``thumbs`` and ``labels`` the matching
    gallery frames (uint8 RGB) and short names, row by row.
    """
    if not found:
        raise DataError("no gallery result to show")
    picks = _spread(len(queries), n_rows)
    top = max(len(f[0]) for f in found)
    fig, axes = plt.subplots(len(picks), top + 1, figsize=(1.6 * (top + 1), 1.8 * len(picks)), squeeze=False)
    for r, qi in enumerate(picks):
        q = queries.iloc[qi]
        axes[r][0].imshow(lightness(query_frames[qi][None])[0], cmap="gray", vmin=0, vmax=100)
        axes[r][0].set_title(f"{q['video_id']} scene {q['scene']}\ngrey query", fontsize=7)
        for c in range(top + 1):
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        for c, (img, name, score) in enumerate(zip(thumbs[qi], labels[qi], found[qi][1]), start=1):
            axes[r][c].imshow(img)
            axes[r][c].set_title(f"#{c} {name}\ncos {score:.3f}", fontsize=6)
    fig.suptitle(title or "grey scene queries and their top gallery frames", fontsize=9)
    fig.tight_layout()
    return fig


def plot_ambiguous_queries(
    store: FrameStore, thumbs: np.ndarray, ambiguous: np.ndarray, *, n_rows: int = 4
) -> plt.Figure:
    """Rows of [query (colour) | its nearest frame of another shot | its nearest frame of its own shot], by the
    cosine of ``thumbs`` (one vector per row of ``store.index``), for up to ``n_rows`` ``ambiguous`` queries spread
    over them: what the shot labels ask a descriptor to tell apart. Without any, a figure that says so."""
    rows = np.flatnonzero(np.asarray(ambiguous, bool))
    if rows.size == 0:
        fig, ax = plt.subplots(figsize=(6.0, 1.0))
        ax.text(0.5, 0.5, "no held-out frame is nearer another shot than its own", ha="center", va="center")
        ax.axis("off")
        return fig
    rows = rows[_spread(len(rows), n_rows)]
    meta = store.index.reset_index(drop=True)
    shots, ids = meta["shot_id"].to_numpy(), meta["frame_id"].to_numpy()
    fig, axes = plt.subplots(len(rows), 3, figsize=(6.0, 2.0 * len(rows)), squeeze=False)
    for r, q in enumerate(rows):
        sim = thumbs @ thumbs[q]
        sim[q] = -np.inf
        own, other = shots == shots[q], shots != shots[q]
        picks = [
            (q, f"query: {shots[q]}\nframe {meta['source_frame'][q]}"),
            (int(np.argmax(np.where(other, sim, -np.inf))), "nearest of another shot"),
            (int(np.argmax(np.where(own, sim, -np.inf))), "nearest of its own shot"),
        ]
        for c, (row, label) in enumerate(picks):
            ax = axes[r][c]
            ax.imshow(store.uint8([int(ids[row])])[0], interpolation="nearest")
            score = "" if c == 0 else f"\n{shots[row]} frame {meta['source_frame'][row]}, cos {sim[row]:.3f}"
            ax.set_title(label + score, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig
