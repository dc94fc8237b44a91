"""Notebook 05's tables: our measurements aggregated, beside the paper's figures quoted verbatim.

The quoted rows are copied from the paper's Tables III-V (seeds/000_00d53293c1612a12.txt) and
are always labelled ``quoted, not measured``; they come from other data (YouTube-8M), another
machine (RTX 3090) and a protocol the paper does not state, so they sit beside ours for
context, never as a like-for-like comparison.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .artifacts import read_json
from .metrics import IMAGE_MEASURES

QUOTED = "quoted, not measured"
MEASURED = "measured"
TEMPORAL = ("CDC", "dAB", "dAB_gt", "dAB_err")

# Table III of the paper: number of references vs measures (no PSNR column is printed).
PAPER_TABLE_III = pd.DataFrame(
    [
        (1, 0.45, 4.443, 1.362, 0.945, 0.893, 0.887, 0.980, 0.984),
        (2, 0.31, 3.719, 0.481, 0.902, 0.732, 0.896, 0.987, 0.989),
        (3, 0.25, 3.372, 0.254, 0.821, 0.624, 0.99, 0.993, 0.993),
        (4, 0.22, 3.340, 0.131, 0.758, 0.518, 0.993, 0.996, 0.995),
        (5, 0.14, 3.328, 0.138, 0.673, 0.357, 0.998, 0.998, 0.997),
    ],
    columns=["n_refs", "AD", "RMSE", "MD", "SC", "NAE", "NCC", "SSIM", "PCC"],
)

# Table IV of the paper: earlier colour-transfer methods (by the paper's reference number) and "our".
PAPER_TABLE_IV = pd.DataFrame(
    [
        ("[32] Xie et al. 2023", 1.069126, 1.806177, 20, 0.994602, 0.009098, 0.981267, 0.963565, 0.965124, 34.57),
        ("[33] Sheng et al. 2023", 1.068921, 1.805696, 20, 0.994237, 0.008951, 0.98136, 0.963755, 0.976798, 34.81),
        ("[34] Ke et al. 2023", 1.024832, 1.556213, 20, 0.981382, 0.008887, 0.983618, 0.96376, 0.986665, 35.12),
        ("[35] Vijetha & Geetha 2023", 0.872693, 1.266927, 18, 0.815632, 0.008885, 0.983627, 0.982004, 0.986685, 35.31),
        ("[36] Zhu & Hu 2023", 0.569565, 0.992709, 12, 0.732995, 0.006713, 0.985156, 0.98229, 0.986916, 35.56),
        ("[37] Lv et al. 2024", 0.541809, 0.991881, 11, 0.631692, 0.006386, 0.987824, 0.987129, 0.988392, 35.8),
        ("[7] Chen et al. 2024", 0.52446, 0.97283, 10, 0.536527, 0.006181, 0.988699, 0.987278, 0.988924, 36.21),
        ("[38] Lv & Zhang 2024", 0.022581, 0.228494, 10, 0.346817, 0.000266, 0.988794, 0.999852, 0.989313, 36.5),
        ("[39] Bao et al. 2024", 0.016055, 0.198013, 10, 0.317304, 0.000189, 0.988845, 0.999959, 0.990797, 36.98),
        ("paper's method", 0.009084, 0.124658, 8, 0.276279, 0.000107, 0.991476, 0.999982, 0.998678, 37.89),
    ],
    columns=["method", *IMAGE_MEASURES],
)

# Table V of the paper: deep video colorizers, time per frame (s) and model size (MB).
PAPER_TABLE_V = pd.DataFrame(
    [
        ("[6] BiSTNet", 30.40, 0.976, 3.2, 78.0),
        ("[8] LVCD", 24.5489, 0.8790, 2.9, 85.0),
        ("[40] ViT-Color", 28.88, 0.979, 4.5, 112.0),
        ("paper's method", 37.89, 0.998, 2.6, 81.0),
    ],
    columns=["method", "PSNR", "SSIM", "sec_per_frame", "size_MB"],
)


def aggregate(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Combine per-video rows: image measures frame-weighted, CDC segment-weighted, dAB pair-weighted.

    A frame-weighted mean of per-video means equals the mean over all frames, which is how the
    paper averages ("averaged over frames"). Time per frame is total time over total frames.
    """
    out = []
    for key, group in rows.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key))
        frames = group["n_frames"].to_numpy(dtype=float)
        row["n_videos"], row["n_frames"] = len(group), int(frames.sum())
        for name in (*IMAGE_MEASURES, "colorfulness"):
            row[name] = _weighted(group[name].to_numpy(dtype=float), frames)
        row["CDC"] = _weighted(group["CDC"].to_numpy(dtype=float), group["n_segments"].to_numpy(dtype=float))
        for name in ("dAB", "dAB_gt", "dAB_err"):
            row[name] = _weighted(group[name].to_numpy(dtype=float), group["n_pairs"].to_numpy(dtype=float))
        if "sec_per_frame" in group:
            row["sec_per_frame"] = float((group["sec_per_frame"] * group["n_frames"]).sum() / frames.sum())
        out.append(row)
    return pd.DataFrame(out)


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    ok = ~np.isnan(values) & (weights > 0)
    if not ok.any():
        return math.nan
    v, w = values[ok], weights[ok]
    if np.isinf(v).any():
        return float(np.sign(v[np.isinf(v)]).mean() * math.inf)
    return float((v * w).sum() / w.sum())


def table_iii(rows: pd.DataFrame, method: str) -> pd.DataFrame:
    """Ours for every pool and number of references (the paper's Table III, plus PSNR and CDC)."""
    sub = rows[rows["method"] == method]
    agg = aggregate(sub, ["pool", "n_refs"])
    return agg[["pool", "n_refs", "n_frames", *IMAGE_MEASURES, *TEMPORAL, "sec_per_frame"]].sort_values(["pool", "n_refs"]).reset_index(drop=True)


def table_iv(rows: pd.DataFrame, main_refs: int) -> pd.DataFrame:
    """Every method at ``main_refs`` references, per pool (our measured half of Table IV)."""
    sub = rows[rows["n_refs"] == main_refs]
    agg = aggregate(sub, ["pool", "method"])
    agg.insert(2, "source", MEASURED)
    return agg[["pool", "method", "source", "n_frames", *IMAGE_MEASURES, *TEMPORAL, "colorfulness", "sec_per_frame"]]


def with_quoted(measured: pd.DataFrame, quoted: pd.DataFrame, label_col: str = "method") -> pd.DataFrame:
    """Our rows then the paper's in one table, with a ``source`` column saying which is which."""
    m = measured.copy()
    if "source" not in m.columns:
        m["source"] = MEASURED
    q = quoted.copy()
    q["source"] = QUOTED
    return pd.concat([m, q], ignore_index=True)[_ordered(m, q, label_col)]


def _ordered(measured: pd.DataFrame, quoted: pd.DataFrame, label_col: str) -> list[str]:
    cols = [label_col, "source"]
    for c in [*measured.columns, *quoted.columns]:
        if c not in cols:
            cols.append(c)
    return cols


def per_video(rows: pd.DataFrame, pool: str, main_refs: int) -> pd.DataFrame:
    """PSNR, SSIM, CDC and ab error of every method on every video (one pool, ``main_refs``)."""
    sub = rows[(rows["pool"] == pool) & (rows["n_refs"] == main_refs)]
    return sub[["video_id", "method", "n_frames", "PSNR", "SSIM", "CDC", "dAB_err", "colorfulness"]].reset_index(drop=True)


def table_v(measured_ours: dict[str, float]) -> pd.DataFrame:
    """Our PSNR / SSIM / time per frame / size beside the paper's Table V (quoted)."""
    ours = pd.DataFrame([{"method": measured_ours.pop("method", "ours"), "source": MEASURED, **measured_ours}])
    quoted = PAPER_TABLE_V.copy()
    quoted.insert(1, "source", QUOTED)
    return pd.concat([ours, quoted], ignore_index=True)


def upstream_summary(run_dir: Path, steps: Sequence[str] = ("02_scene_analysis", "03_reference_selection")) -> pd.DataFrame:
    """The headline numbers notebooks 02 and 03 recorded (their results.json), one row each."""
    rows = []
    for step in steps:
        path = Path(run_dir) / "artifacts" / step / "results.json"
        if not path.is_file():
            rows.append({"step": step, "name": "(no results.json)", "value": None, "unit": "", "source": "", "note": "step not run"})
            continue
        for m in read_json(path).get("metrics", []):
            rows.append({"step": step, **{k: m.get(k) for k in ("name", "value", "unit", "source", "note")}})
    return pd.DataFrame(rows)


def upstream_tables(run_dir: Path, step: str) -> dict[str, pd.DataFrame]:
    """The tables a step recorded in its results.json, by name."""
    path = Path(run_dir) / "artifacts" / step / "results.json"
    if not path.is_file():
        return {}
    return {t["name"]: pd.DataFrame(t["rows"]) for t in read_json(path).get("tables", [])}


def video_table(videos: Sequence) -> pd.DataFrame:
    """What is evaluated: frames kept, detected scenes and steady segments per test video."""
    return pd.DataFrame([
        {"video_id": v.video_id, "frames": v.n_frames, "source frames": f"{int(v.source_frames[0])}..{int(v.source_frames[-1])}",
         "frame step": int(v.source_frames[1] - v.source_frames[0]) if v.n_frames > 1 else 1,
         "detected scenes": len(v.scenes), "steady segments": len(v.steady)}
        for v in videos
    ])


def trend_with_refs(table3: pd.DataFrame, measures: Sequence[str] = ("PSNR", "SSIM", "CDC")) -> pd.DataFrame:
    """Does quality rise with R? Per pool and measure: value at the smallest and largest R, the
    least-squares slope per added reference (``better_with_more_refs`` when it points the good
    way: up for PSNR/SSIM, down for CDC), and whether every added reference helped (``monotone``)."""
    rows = []
    for pool, grp in table3.groupby("pool", sort=False):
        grp = grp.sort_values("n_refs")
        r = grp["n_refs"].to_numpy(dtype=float)
        for m in measures:
            v = grp[m].to_numpy(dtype=float)
            sign = -1.0 if m in ("CDC", "RMSE", "NAE", "MD", "dAB_err") else 1.0
            slope = float(np.polyfit(r, v, 1)[0]) if len(r) > 1 and np.isfinite(v).all() else math.nan
            steps = np.diff(v) * sign
            rows.append({"pool": pool, "measure": m, "R_min": int(r[0]), "at_R_min": v[0], "R_max": int(r[-1]), "at_R_max": v[-1],
                         "slope_per_ref": slope, "better_with_more_refs": bool(np.isfinite(slope) and sign * slope > 0),
                         "monotone": bool(len(steps) > 0 and (steps > 0).all())})
    return pd.DataFrame(rows)


def target_check(table4: pd.DataFrame, ours: str, rivals: Sequence[str]) -> pd.DataFrame:
    """The issue's targets per pool: ours ahead of each classical transfer in PSNR and SSIM, CDC no worse."""
    rows = []
    for pool, grp in table4.groupby("pool", sort=False):
        mine = grp[grp["method"] == ours]
        if mine.empty:
            continue
        mine = mine.iloc[0]
        for rival in rivals:
            other = grp[grp["method"] == rival]
            if other.empty:
                continue
            other = other.iloc[0]
            for m, better in (("PSNR", "higher"), ("SSIM", "higher"), ("CDC", "lower or equal")):
                ok = mine[m] > other[m] if better == "higher" else mine[m] <= other[m]
                rows.append({"pool": pool, "measure": m, "ours": mine[m], "rival": rival, "rival value": other[m],
                             "wanted": f"ours {better}", "met": bool(ok)})
    return pd.DataFrame(rows)
