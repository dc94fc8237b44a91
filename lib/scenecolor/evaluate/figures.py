"""The evaluation step's pictures and videos: side-by-side frames, per-video bars, quality against R,
and the colorized test videos (mp4, plus a small GIF and a PNG strip for the HTML report)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scenecolor.colorize.correspondence import FlowEngine, normalized_u8
from scenecolor.colorize.verify import VerifyConfig, match_map
from scenecolor.core.artifacts import atomic_path
from scenecolor.core.color8 import lab_to_rgb8, rgb8_to_lab
from scenecolor.core.video import write_video
from scenecolor.evaluate.protocol import EvaluationResult, EvalVideo


def _gray(frame: np.ndarray) -> np.ndarray:
    """The grayscale input as RGB (L of the ground truth, no colour)."""
    lab = rgb8_to_lab(frame)
    lab[..., 1:] = 0
    return lab_to_rgb8(lab)


def at_aspect(img: np.ndarray, aspect: float) -> np.ndarray:
    """A frame stored as a stretched square shown at its video's aspect ratio (width / height), height kept."""
    h, w = img.shape[:2]
    target = max(1, int(round(h * aspect)))
    return img if abs(target - w) <= 1 else cv2.resize(img, (target, h), interpolation=cv2.INTER_AREA)


def reference_tile(refs: np.ndarray, size: int) -> np.ndarray:
    """R reference frames (R,S,S,3) packed into one size x size tile (a near-square grid)."""
    r = len(refs)
    cols = math.ceil(math.sqrt(r))
    rows = math.ceil(r / cols)
    cell = size // cols
    top = (size - rows * cell) // 2  # centre the grid vertically
    tile = np.full((size, size, 3), 255, dtype=np.uint8)
    for i, ref in enumerate(refs):
        y, x = divmod(i, cols)
        y0 = top + y * cell
        tile[y0 : y0 + cell, x * cell : (x + 1) * cell] = cv2.resize(ref, (cell, cell), interpolation=cv2.INTER_AREA)
    return tile


def side_by_side(
    videos: Sequence[EvalVideo], result: EvaluationResult, methods: Sequence[str], max_rows: int = 4
) -> plt.Figure:
    """Rows: the middle frame of successive scenes; columns: gray, references, each method, truth."""
    picks = [(v, i) for v in videos for i in range(len(v.scenes))][:max_rows]
    cols = ["gray input", "references"] + list(methods) + ["ground truth"]
    aspect = max((v.display_aspect for v, _ in picks), default=1.0)
    fig, axes = plt.subplots(len(picks), len(cols), figsize=(2.1 * aspect * len(cols), 2.2 * len(picks)), squeeze=False)
    for row, (video, scene) in enumerate(picks):
        s, e = video.scenes[scene]
        t = (s + e - 1) // 2
        size = video.frames.shape[1]
        a = video.display_aspect
        panels = [at_aspect(_gray(video.frames[t]), a), reference_tile(result.references[video.video_id][scene], size)]
        panels += [at_aspect(result.outputs[(m, video.video_id)][t], a) for m in methods]
        panels.append(at_aspect(video.frames[t], a))
        for col, (img, title) in enumerate(zip(panels, cols)):
            ax = axes[row, col]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
        axes[row, 0].set_ylabel(f"{video.video_id}\nscene {scene} frame {t}", fontsize=7)
    fig.tight_layout()
    return fig


def per_video_bars(table: pd.DataFrame, measures: Sequence[str] = ("PSNR", "SSIM", "CDC")) -> plt.Figure:
    """Grouped bars: one group per video, one bar per method, one panel per measure."""
    methods = list(dict.fromkeys(table["method"]))
    videos = list(dict.fromkeys(table["video_id"]))
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.4), squeeze=False)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(videos))
    for ax, measure in zip(axes[0], measures):
        for i, method in enumerate(methods):
            vals = [table[(table["video_id"] == v) & (table["method"] == method)][measure].mean() for v in videos]
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, vals, width, label=method)
        ax.set_xticks(x, videos, rotation=20, fontsize=7)
        ax.set_title(measure + (" (lower is better)" if measure == "CDC" else " (higher is better)"), fontsize=9)
        if measure == "PSNR":
            finite = table[measure].replace([np.inf, -np.inf], np.nan).dropna()
            if len(finite):
                ax.set_ylim(max(0.0, finite.min() - 3), finite.max() + 1)  # differences, not the distance to 0 dB
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(methods)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def quality_vs_refs(
    table3: pd.DataFrame, table4: pd.DataFrame, ours: str, measures: Sequence[str] = ("PSNR", "SSIM", "CDC")
) -> plt.Figure:
    """Our measures against the number of references R, per pool; baselines as dashed lines."""
    fig, axes = plt.subplots(1, len(measures), figsize=(4.0 * len(measures), 3.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, measure in zip(axes[0], measures):
        for j, (pool, grp) in enumerate(table3.groupby("pool", sort=False)):
            ax.plot(grp["n_refs"], grp[measure], "o-", color=colors[j], label=f"ours, {pool}")
            base = table4[(table4["pool"] == pool) & (table4["method"] != ours)]
            for k, (_, b) in enumerate(base.iterrows()):
                ax.axhline(
                    b[measure],
                    ls=("--", ":", "-.")[k % 3],
                    color=colors[j],
                    alpha=0.6,
                    lw=1,
                    label=f"{b['method']}, {pool}",
                )
        ax.set_xlabel("references per scene R")
        ax.set_title(measure + (" (lower is better)" if measure == "CDC" else " (higher is better)"), fontsize=9)
        ax.set_xticks(sorted(table3["n_refs"].unique()))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.1 + 0.03 * (len(labels) // 4), 1, 1))
    return fig


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def comparison_frames(video: EvalVideo, result: EvaluationResult, methods: Sequence[str]) -> np.ndarray:
    """Every frame as one labelled row: gray | each method | ground truth, uint8 (T, S, S*(n+2), 3)."""
    names = ["gray"] + list(methods) + ["truth"]
    out = []
    for t in range(video.n_frames):
        panels = (
            [_gray(video.frames[t])] + [result.outputs[(m, video.video_id)][t] for m in methods] + [video.frames[t]]
        )
        out.append(np.concatenate([_label(p, n.split(" (")[0]) for p, n in zip(panels, names)], axis=1))
    return np.stack(out)


def write_videos(
    out_dir: Path, videos: Sequence[EvalVideo], result: EvaluationResult, ours: str, methods: Sequence[str]
) -> list[Path]:
    """Per video: ``<id>_ours.mp4`` (our colorization) and ``<id>_compare.mp4`` (gray | methods | truth)."""
    paths = []
    for video in videos:
        fps = (
            video.fps / max(1, int(video.source_frames[1] - video.source_frames[0]))
            if video.n_frames > 1
            else video.fps
        )
        paths.append(
            write_video(Path(out_dir) / f"{video.video_id}_ours.mp4", result.outputs[(ours, video.video_id)], fps)
        )
        paths.append(
            write_video(Path(out_dir) / f"{video.video_id}_compare.mp4", comparison_frames(video, result, methods), fps)
        )
    return paths


def write_gif(path: Path, frames: np.ndarray, fps: float, max_frames: int = 24, width: int = 560) -> Path:
    """A small looping GIF of ``frames`` (downscaled to ``width``, at most ``max_frames``), atomically."""
    import imageio.v2 as imageio

    step = max(1, math.ceil(len(frames) / max_frames))
    scale = width / frames.shape[2]
    small = [
        cv2.resize(f, (width, max(2, int(f.shape[0] * scale))), interpolation=cv2.INTER_AREA) for f in frames[::step]
    ]
    with atomic_path(path) as tmp:
        imageio.mimsave(tmp, small, duration=1000 * step / max(fps, 1e-3), loop=0)
    return Path(path)


def frame_strip(video: EvalVideo, result: EvaluationResult, methods: Sequence[str], n: int = 6) -> plt.Figure:
    """A PNG-ready strip: ``n`` evenly spaced frames of one video, rows gray / methods / truth."""
    idx = np.linspace(0, video.n_frames - 1, min(n, video.n_frames)).round().astype(int)
    a = video.display_aspect
    rows = [("gray input", [at_aspect(_gray(video.frames[t]), a) for t in idx])]
    rows += [(m, [at_aspect(result.outputs[(m, video.video_id)][t], a) for t in idx]) for m in methods]
    rows.append(("ground truth", [at_aspect(video.frames[t], a) for t in idx]))
    fig, axes = plt.subplots(len(rows), len(idx), figsize=(1.8 * a * len(idx), 1.9 * len(rows)), squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for c, img in enumerate(imgs):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {int(video.source_frames[idx[c]])}", fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=7)
    fig.suptitle(video.video_id, fontsize=9)
    fig.tight_layout()
    return fig


def verification_scores(table: pd.DataFrame, threshold: float) -> plt.Figure:
    """Verification match score of every reference, per pool, right-shot references (green) against the others
    (red), with the threshold: green dots left of it are lost references, red dots right of it wrong ones kept."""
    pools = list(dict.fromkeys(table["pool"]))
    fig, axes = plt.subplots(1, len(pools), figsize=(5 * len(pools), 2.6), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, pool in zip(axes[0], pools):
        g = table[table["pool"] == pool]
        for right, colour, label in ((True, "tab:green", "right shot"), (False, "tab:red", "other footage")):
            x = g.loc[g["right_shot"] == right, "match"].to_numpy()
            ax.scatter(x, (0.5 if right else -0.5) + rng.uniform(-0.3, 0.3, x.size), s=14, c=colour, label=label)
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
        ax.set(title=f"{pool} pool", xlabel="match score (share of matching pixels)", xlim=(0, 1), yticks=[])
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def match_maps(video: EvalVideo, scene: int, refs_rgb: np.ndarray, cfg: VerifyConfig | None = None) -> plt.Figure:
    """One scene's middle frame (grey), each reference (uint8 RGB (R, S, S, 3)), and under it its per-pixel match
    map on that frame (:func:`scenecolor.colorize.verify.match_map`: bright where the warped reference agrees and
    the flow is cycle-consistent) with its mean there; ``scene`` indexes ``video.scenes``. The kept/dropped
    verdict itself averages a few frames of the scene (the evaluation step's verification table)."""
    cfg = cfg or VerifyConfig()
    s, e = video.scenes[scene]
    mid = (s + e) // 2
    side = cfg.side
    frame_u8 = normalized_u8(cv2.resize(video.lab[mid, ..., 0], (side, side), interpolation=cv2.INTER_AREA))
    engine = FlowEngine(cfg.method)
    n = len(refs_rgb)
    fig, axes = plt.subplots(2, n + 1, figsize=(1.9 * (n + 1), 4.0), squeeze=False)
    axes[0, 0].imshow(_gray(video.frames[mid]))
    axes[0, 0].set_title("grey frame", fontsize=8)
    axes[1, 0].axis("off")
    for k, ref in enumerate(refs_rgb, start=1):
        ref_L = rgb8_to_lab(np.ascontiguousarray(ref))[..., 0]
        ref_u8 = normalized_u8(cv2.resize(ref_L, (side, side), interpolation=cv2.INTER_AREA))
        m = match_map(frame_u8, ref_u8, engine, cfg)
        axes[0, k].imshow(ref)
        axes[0, k].set_title(f"reference {k}", fontsize=8)
        axes[1, k].imshow(m, cmap="magma", vmin=0, vmax=1)
        axes[1, k].set_title(f"match here {m.mean():.2f}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
