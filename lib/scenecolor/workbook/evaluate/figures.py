"""The evaluation step's pictures and videos: side-by-side frames, per-video bars, quality against R, ours minus
grey per scene and the worst scenes, and the colorized test videos (mp4, plus a small GIF and a PNG strip for the
HTML report).

Frame figures are laid out for the page: at most :data:`PAGE_WIDTH_IN` inches wide (about 1000 px at the 110 dpi
notebooks save at), so the report never shrinks them, with text of at least :data:`MIN_FONT` pt."""

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
from scenecolor.evaluate.protocol import SCENE_TARGET_DB, EvaluationResult, EvalVideo, SceneCase

PAGE_WIDTH_IN = 9.0  # widest frame figure, inches (990 px at 110 dpi: the report's page width)
MIN_FONT = 9  # smallest text of a frame figure, pt


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


def _short(name: str) -> str:
    """A method's name without its parenthesised gloss ('Welsh (luminance match)' -> 'Welsh')."""
    return name.split(" (")[0]


def side_by_side(
    videos: Sequence[EvalVideo], result: EvaluationResult, methods: Sequence[str], max_rows: int = 4, per_row: int = 3
) -> plt.Figure:
    """For the middle frame of successive scenes (at most ``max_rows``): gray input, references, each method and
    the truth, ``per_row`` panels a row (each scene a block of rows), every panel titled, page-wide."""
    picks = [(v, i) for v in videos for i in range(len(v.scenes))][:max_rows]
    names = ["gray input", "references"] + [_short(m) for m in methods] + ["ground truth"]
    lines = math.ceil(len(names) / per_row)
    aspect = max((v.display_aspect for v, _ in picks), default=1.0)
    panel_w = PAGE_WIDTH_IN / per_row
    panel_h = panel_w / aspect + 0.35  # the title line
    fig, axes = plt.subplots(
        lines * len(picks), per_row, figsize=(PAGE_WIDTH_IN, panel_h * lines * len(picks) + 0.1), squeeze=False
    )
    for block, (video, scene) in enumerate(picks):
        s, e = video.scenes[scene]
        t = (s + e - 1) // 2
        a = video.display_aspect
        refs_tile = reference_tile(result.references[video.video_id][scene], video.frames.shape[1])
        panels = [at_aspect(_gray(video.frames[t]), a), at_aspect(refs_tile, a)]
        panels += [at_aspect(result.outputs[(m, video.video_id)][t], a) for m in methods]
        panels.append(at_aspect(video.frames[t], a))
        for k in range(lines * per_row):
            ax = axes[block * lines + k // per_row, k % per_row]
            ax.set_xticks([])
            ax.set_yticks([])
            if k >= len(panels):
                ax.axis("off")
                continue
            ax.imshow(panels[k])
            title = f"{video.video_id}, scene {video.scene_ids[scene]}: {names[k]}" if k == 0 else names[k]
            ax.set_title(title, fontsize=MIN_FONT + 1 if k == 0 else MIN_FONT, loc="left" if k == 0 else "center")
    fig.tight_layout(pad=0.4, h_pad=0.6, w_pad=0.4)
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


def frame_strip(video: EvalVideo, result: EvaluationResult, methods: Sequence[str], n: int = 4) -> plt.Figure:
    """A PNG-ready strip, page-wide: ``n`` evenly spaced frames of one video, rows gray / methods / truth."""
    idx = np.linspace(0, video.n_frames - 1, min(n, video.n_frames)).round().astype(int)
    a = video.display_aspect
    rows = [("gray", [at_aspect(_gray(video.frames[t]), a) for t in idx])]
    rows += [(_short(m), [at_aspect(result.outputs[(m, video.video_id)][t], a) for t in idx]) for m in methods]
    rows.append(("truth", [at_aspect(video.frames[t], a) for t in idx]))
    panel_w = (PAGE_WIDTH_IN - 0.4) / len(idx)
    fig, axes = plt.subplots(
        len(rows), len(idx), figsize=(PAGE_WIDTH_IN, (panel_w / a + 0.12) * len(rows) + 0.6), squeeze=False
    )
    for r, (name, imgs) in enumerate(rows):
        for c, img in enumerate(imgs):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {int(video.source_frames[idx[c]])}", fontsize=MIN_FONT)
        axes[r, 0].set_ylabel(name, fontsize=MIN_FONT)
    fig.suptitle(video.video_id, fontsize=MIN_FONT + 1)
    fig.tight_layout(pad=0.4, h_pad=0.3, w_pad=0.3)
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


def scene_vs_grey(scenes: pd.DataFrame, method: str, threshold: float = SCENE_TARGET_DB) -> plt.Figure:
    """Ours minus grey (PSNR, dB) for every scene, one panel per pool, sorted worst first as horizontal bars, with
    the target line at ``threshold`` (red bars miss it) and 0 (grey's own level).

    Args:
        scenes: :func:`scenecolor.evaluate.protocol.scene_scores` rows (video_id, scene, pool, method,
            PSNR_vs_grey); only ``method``'s rows are drawn.
    """
    ours = scenes[scenes["method"] == method]
    pools = list(dict.fromkeys(ours["pool"]))
    n = max((int((ours["pool"] == p).sum()) for p in pools), default=1)
    fig, axes = plt.subplots(1, max(1, len(pools)), figsize=(PAGE_WIDTH_IN, 1.3 + 0.28 * n), squeeze=False, sharex=True)
    finite = ours["PSNR_vs_grey"].replace([np.inf, -np.inf], np.nan).dropna()
    lo = min(threshold - 0.5, float(finite.min()) - 0.3) if len(finite) else threshold - 1
    hi = max(0.5, float(finite.max()) + 0.3) if len(finite) else 1.0
    hi += 0.15 * (hi - lo)  # room for the value printed beside the longest bar
    for ax, pool in zip(axes[0], pools):
        g = ours[ours["pool"] == pool].sort_values("PSNR_vs_grey", ascending=False)
        y = np.arange(len(g))
        vals = g["PSNR_vs_grey"].to_numpy(dtype=float)
        ax.barh(y, np.clip(vals, lo, hi), color=np.where(vals < threshold, "tab:red", "tab:blue"))
        ax.set_yticks(y, [f"{v}:{int(sc)}" for v, sc in zip(g["video_id"], g["scene"])], fontsize=MIN_FONT)
        ax.axvline(0, color="k", lw=0.8)
        ax.axvline(threshold, color="tab:red", ls="--", lw=1.2, label=f"target: at least {threshold:+g} dB")
        for yy, v in zip(y, vals):
            x = float(np.clip(v, lo, hi))
            ax.text(x + (0.05 if x >= 0 else -0.05) * (hi - lo) / 4, yy, f"{v:+.2f}", va="center",
                    ha="left" if x >= 0 else "right", fontsize=MIN_FONT)  # fmt: skip
        ax.set_xlim(lo, hi)
        ax.set_xlabel("PSNR, ours minus grey (dB)", fontsize=MIN_FONT + 1)
        ax.set_title(f"{pool} pool: {len(g)} scenes, worst {vals.min():+.2f} dB", fontsize=MIN_FONT + 1)
        ax.tick_params(axis="x", labelsize=MIN_FONT)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", fontsize=MIN_FONT, frameon=False)
    fig.tight_layout(rect=(0, 0.35 / fig.get_size_inches()[1], 1, 1))
    return fig


def _frame_box(ax: plt.Axes, colour: str) -> None:
    for side in ax.spines.values():
        side.set_edgecolor(colour)
        side.set_linewidth(3)


def worst_scenes(cases: Sequence[SceneCase], method: str = "ours") -> plt.Figure:
    """Each scene of ``cases`` (worst first, :func:`scenecolor.evaluate.protocol.scene_cases`) as a block of two
    rows, page-wide: the grey input, ours, ours' per-pixel confidence (0 black, 1 bright) and the truth; below,
    every reference with its verification match score and KEPT (green frame) or DROPPED (red frame)."""
    if not cases:
        raise ValueError("no scene to draw: pass at least one SceneCase")
    n_refs = max(len(c.refs) for c in cases)
    aspect = max(c.aspect for c in cases)
    top_h = (PAGE_WIDTH_IN / 4) / aspect + 0.4
    ref_h = (PAGE_WIDTH_IN / max(n_refs, 4)) / aspect + 0.4
    block_h = top_h + ref_h + 0.45
    fig = plt.figure(figsize=(PAGE_WIDTH_IN, block_h * len(cases)))
    subfigs = np.atleast_1d(fig.subfigures(len(cases), 1))
    for rank, (sub, case) in enumerate(zip(subfigs, cases), start=1):
        kept = int(np.sum(case.kept))
        fallback = ": ours is the fallback" if kept == 0 else ""
        sub.suptitle(
            f"{rank}. {case.video_id}, scene {case.scene}, {case.pool} pool: {method} minus grey "
            f"{case.psnr_vs_grey:+.2f} dB; {kept} of {len(case.refs)} references kept{fallback}",
            fontsize=MIN_FONT + 1,
            x=0.01,
            ha="left",
        )
        cols = max(n_refs, 4)
        width = math.lcm(cols, 4)
        grid = sub.add_gridspec(2, width, height_ratios=(top_h, ref_h))
        top = [
            (case.grey, "grey input", None),
            (case.ours, method, None),
            (case.confidence, f"confidence (mean {np.nanmean(case.confidence):.2f})", "magma"),
            (case.truth, "ground truth", None),
        ]
        step = width // 4
        for k, (img, title, cmap) in enumerate(top):
            ax = sub.add_subplot(grid[0, k * step : (k + 1) * step])
            shown = at_aspect(img, case.aspect) if img.ndim == 3 else at_aspect(np.nan_to_num(img), case.aspect)
            im = ax.imshow(shown, cmap=cmap, vmin=0 if cmap else None, vmax=1 if cmap else None)
            ax.set_title(title, fontsize=MIN_FONT)
            ax.set_xticks([])
            ax.set_yticks([])
            if cmap:
                bar = sub.colorbar(im, ax=ax, fraction=0.046, pad=0.02, ticks=[0, 0.5, 1])
                bar.ax.tick_params(labelsize=MIN_FONT)
        rstep = width // cols
        for k, ref in enumerate(case.refs):
            ax = sub.add_subplot(grid[1, k * rstep : (k + 1) * rstep])
            ax.imshow(at_aspect(ref, case.aspect))
            ax.set_xticks([])
            ax.set_yticks([])
            score = "" if np.isnan(case.match[k]) else f" {case.match[k]:.2f}"
            verdict = "KEPT" if case.kept[k] else "DROPPED"
            colour = "tab:green" if case.kept[k] else "tab:red"
            ax.set_title(f"ref {k + 1}:{score} {verdict}", fontsize=MIN_FONT, color=colour)
            _frame_box(ax, colour)
    return fig
