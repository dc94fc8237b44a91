"""Figures of the scene-analysis step: SSDev curves with cuts, scene strips, F1 against k, throughput."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from scenecolor.scenes.ssim_detector import Detection, SsimConfig
from scenecolor.workbook.scenes.experiments import TestVideo, scene_first_frames

KIND_COLOURS = {"hard": "tab:green", "fade": "tab:purple", "dissolve": "tab:orange"}


def plot_ssdev_curves(
    videos: Sequence[TestVideo],
    found: dict[tuple[str, str], Detection],
    name: str,
    config: SsimConfig,
    peer: str | None = "ContentDetector",
) -> Figure:
    """One panel per video: SSDev per frame, the threshold and floor, true transitions, detected cuts."""
    fig, axes = plt.subplots(len(videos), 1, figsize=(11, 2.1 * len(videos)), squeeze=False, sharey=True)
    for ax, video in zip(axes[:, 0], videos):
        det = found[(video.video_id, name)]
        for (lo, hi), kind in zip(video.windows, video.kinds):
            ax.axvspan(lo - 0.5, hi + 0.5, color=KIND_COLOURS.get(kind, "grey"), alpha=0.35, lw=0)
        ax.plot(det.frame_index[1:], det.scores[1:], color="black", lw=0.9, label="SSDev = 1 - SSIM")
        if det.threshold is not None and math.isfinite(det.threshold):
            ax.axhline(
                det.threshold, color="tab:red", ls="--", lw=1, label=f"mean + {config.k:g} std = {det.threshold:.2f}"
            )
        ax.axhline(config.min_ssdev, color="tab:blue", ls=":", lw=1, label=f"floor {config.min_ssdev:g}")
        ax.plot(det.cuts, [1.02] * len(det.cuts), "v", color="tab:red", ms=7, label="detected (ours)", clip_on=False)
        if peer and (video.video_id, peer) in found:
            pc = found[(video.video_id, peer)].cuts
            ax.plot(pc, [-0.06] * len(pc), "^", color="grey", ms=6, label=f"detected ({peer})", clip_on=False)
        ax.set_xlim(0, det.n_frames)
        ax.set_ylim(0, 1.0)
        ax.set_ylabel(video.video_id, fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.35) for c in KIND_COLOURS.values()]
    labels += [f"true {k}" for k in KIND_COLOURS]
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, 1.0 + 0.25 / len(videos)))
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    return fig


def plot_scene_strips(
    videos: Sequence[TestVideo], found: dict[tuple[str, str], Detection], name: str, max_scenes: int = 8
) -> Figure:
    """One row per video: the first frame of each detected scene (up to ``max_scenes``)."""
    rows = [(v, found[(v.video_id, name)].scenes()[:max_scenes]) for v in videos]
    cols = max(len(s) for _, s in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols, 1.35 * len(rows) + 0.3), squeeze=False)
    for r, (video, scenes) in enumerate(rows):
        thumbs = scene_first_frames(video.path, [s["start"] for s in scenes])
        for c in range(cols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(thumbs):
                ax.imshow(thumbs[c])
                ax.set_title(f"scene {c + 1} @ {scenes[c]['start']}", fontsize=7)
        axes[r, 0].text(-0.05, 0.5, video.video_id, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def plot_k_sensitivity(table: pd.DataFrame, paper_k: float = 2.5) -> Figure:
    """F1, hard-cut recall and gradual recall against k, one line per rule variant."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
    styles = ["o-", "s--", "^:"]
    for ax, column, title in zip(
        axes,
        ("f1", "recall_hard", "recall_gradual"),
        ("F1 (all cuts)", "recall, hard cuts", "recall, fades + dissolves"),
    ):
        for style, (rule, group) in zip(styles, table.groupby("rule", sort=False)):
            ax.plot(group["k"], group[column], style, label=rule, alpha=0.8)
        ax.axvline(paper_k, color="grey", lw=0.8, ls=":")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("k")
        ax.set_ylim(-0.03, 1.03)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_throughput(table: pd.DataFrame) -> Figure:
    """Horizontal bars of frames per second (one bar per row of ``table``: what, frames_per_s)."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 0.8))
    colours = [
        "tab:blue" if "ours" in w else ("lightgrey" if w.startswith("decode") else "tab:grey") for w in table["what"]
    ]
    ax.barh(table["what"], table["frames_per_s"], color=colours)
    for y, v in enumerate(table["frames_per_s"]):
        ax.text(v, y, f" {v:.0f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("frames per second (all test videos, this machine)")
    fig.tight_layout()
    return fig


def plot_motion_compensation(det: Detection, title: str = "") -> Figure:
    """SSDev per frame beside its motion-compensated value (where computed), threshold and cuts."""
    fig, ax = plt.subplots(figsize=(11, 2.6))
    ax.plot(det.frame_index[1:], det.scores[1:], color="black", lw=0.9, label="SSDev = 1 - SSIM")
    if det.motion_scores is not None:
        ax.plot(
            det.frame_index,
            det.motion_scores,
            "o",
            color="tab:orange",
            ms=3,
            label="motion-compensated SSDev (previous frame warped by optical flow)",
        )
    if det.threshold is not None and math.isfinite(det.threshold):
        ax.axhline(det.threshold, color="tab:red", ls="--", lw=1, label=f"threshold {det.threshold:.2f}")
    ax.plot(det.cuts, [1.02] * len(det.cuts), "v", color="tab:red", ms=7, label="detected cuts", clip_on=False)
    ax.set_xlim(0, det.n_frames)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("frame")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
