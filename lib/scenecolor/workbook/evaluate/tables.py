"""The evaluation step's tables: our measurements aggregated, beside the paper's figures quoted verbatim.

The quoted rows are copied from the paper's Tables III-V (seeds/000_00d53293c1612a12.txt) and
are always labelled ``quoted, not measured``; they come from other data (YouTube-8M), another
machine (RTX 3090) and a protocol the paper does not state, so they sit beside ours for
context, never as a like-for-like comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scenecolor.core.errors import DataError
from scenecolor.evaluate.metrics import IMAGE_MEASURES
from scenecolor.paper import PAPER_TABLE_V

QUOTED = "quoted, not measured"
MEASURED = "measured"
TEMPORAL = ("CDC", "dAB", "dAB_gt", "dAB_err")


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
    return (
        agg[["pool", "n_refs", "n_frames", *IMAGE_MEASURES, *TEMPORAL, "sec_per_frame"]]
        .sort_values(["pool", "n_refs"])
        .reset_index(drop=True)
    )


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
    return sub[["video_id", "method", "n_frames", "PSNR", "SSIM", "CDC", "dAB_err", "colorfulness"]].reset_index(
        drop=True
    )


def table_v(measured_ours: dict[str, float]) -> pd.DataFrame:
    """Our PSNR / SSIM / time per frame / size beside the paper's Table V (quoted)."""
    ours = pd.DataFrame([{"method": measured_ours.pop("method", "ours"), "source": MEASURED, **measured_ours}])
    quoted = PAPER_TABLE_V.copy()
    quoted.insert(1, "source", QUOTED)
    return pd.concat([ours, quoted], ignore_index=True)


def video_table(videos: Sequence) -> pd.DataFrame:
    """What is evaluated: frames kept, detected scenes and steady segments per test video."""
    return pd.DataFrame(
        [
            {
                "video_id": v.video_id,
                "frames": v.n_frames,
                "source frames": f"{int(v.source_frames[0])}..{int(v.source_frames[-1])}",
                "frame step": int(v.source_frames[1] - v.source_frames[0]) if v.n_frames > 1 else 1,
                "detected scenes": len(v.scenes),
                "steady segments": len(v.steady),
            }
            for v in videos
        ]
    )


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
            rows.append(
                {
                    "pool": pool,
                    "measure": m,
                    "R_min": int(r[0]),
                    "at_R_min": v[0],
                    "R_max": int(r[-1]),
                    "at_R_max": v[-1],
                    "slope_per_ref": slope,
                    "better_with_more_refs": bool(np.isfinite(slope) and sign * slope > 0),
                    "monotone": bool(len(steps) > 0 and (steps > 0).all()),
                }
            )
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
                rows.append(
                    {
                        "pool": pool,
                        "measure": m,
                        "ours": mine[m],
                        "rival": rival,
                        "rival value": other[m],
                        "wanted": f"ours {better}",
                        "met": bool(ok),
                    }
                )
    return pd.DataFrame(rows)


def verification_effect(rows: pd.DataFrame, methods: Sequence[str], gray: str) -> pd.DataFrame:
    """Per pool, each of ``methods`` (e.g. ours without and with reference verification) beside grey output:
    frame-weighted PSNR and SSIM, their difference to grey, and the worst video's PSNR minus grey's there."""
    out = []
    for pool, g in rows.groupby("pool", sort=False):
        grey = g[g["method"] == gray].set_index("video_id")
        grey_all = aggregate(grey.reset_index(), ["method"]).iloc[0]
        for method in methods:
            m = g[g["method"] == method]
            if m.empty:
                continue
            agg = aggregate(m, ["method"]).iloc[0]
            per_video = m.set_index("video_id")["PSNR"] - grey["PSNR"].reindex(m["video_id"]).to_numpy()
            out.append(
                {
                    "pool": pool,
                    "method": method,
                    "n_frames": int(agg["n_frames"]),
                    "PSNR": agg["PSNR"],
                    "SSIM": agg["SSIM"],
                    "PSNR_vs_grey": agg["PSNR"] - grey_all["PSNR"],
                    "SSIM_vs_grey": agg["SSIM"] - grey_all["SSIM"],
                    "worst_video_PSNR_vs_grey": float(per_video.min()),
                }
            )
    return pd.DataFrame(out)


# -- which retriever, end to end ----------------------------------------------------------------
def _retriever_rows(rows: pd.DataFrame, method: str, main_refs: int) -> pd.DataFrame:
    """``method``'s per-video rows at ``main_refs``, one per (retriever, pool, video); DataError when absent."""
    if "retriever" not in rows.columns:
        raise DataError("the rows have no 'retriever' column: label each retriever's evaluation rows with it")
    sub = rows[(rows["method"] == method) & (rows["n_refs"] == main_refs)]
    if sub.empty:
        raise DataError(f"no row of '{method}' at R = {main_refs}; evaluate it with each retriever's references")
    if sub.duplicated(["retriever", "pool", "video_id"]).any():
        raise DataError(f"'{method}' has several rows for one (retriever, pool, video) at R = {main_refs}")
    return sub


def retriever_comparison(rows: pd.DataFrame, method: str, gray: str, main_refs: int) -> pd.DataFrame:
    """Per pool and retriever: ``method``'s PSNR, SSIM and CDC (aggregated as :func:`aggregate`) at ``main_refs``
    and each minus grey output's on the same videos.

    ``rows``: per-video rows of each retriever's evaluation with a ``retriever`` column; the ``gray`` rows (which
    no reference changes) may come with any retriever. Returns pool, retriever, n_videos, n_frames, PSNR, SSIM,
    CDC, PSNR_vs_grey, SSIM_vs_grey, CDC_vs_grey.
    """
    sub = _retriever_rows(rows, method, main_refs)
    grey = rows[rows["method"] == gray].drop_duplicates(["pool", "video_id"])
    out = []
    for (pool, retriever), g in sub.groupby(["pool", "retriever"], sort=False):
        ref = grey[(grey["pool"] == pool) & grey["video_id"].isin(g["video_id"])]
        if len(ref) != len(g):
            raise DataError(f"grey output lacks videos of the '{pool}' pool; evaluate '{gray}' on the same videos")
        mine, base = aggregate(g, ["method"]).iloc[0], aggregate(ref, ["method"]).iloc[0]
        out.append(
            {
                "pool": pool,
                "retriever": retriever,
                "n_videos": int(mine["n_videos"]),
                "n_frames": int(mine["n_frames"]),
                **{m: float(mine[m]) for m in ("PSNR", "SSIM", "CDC")},
                **{f"{m}_vs_grey": float(mine[m] - base[m]) for m in ("PSNR", "SSIM", "CDC")},
            }
        )
    return pd.DataFrame(out)


@dataclass(frozen=True)
class RetrieverVerdict:
    """Which retriever's references colour better end to end (PSNR), by how much, and against what spread."""

    better: str  # the retriever with the higher PSNR (the first one on a tie)
    other: str
    margin_db: float  # better's PSNR minus other's, mean over the pools (>= 0)
    per_pool_db: dict[str, float]  # the same difference per pool
    ssim_margin: float  # better's SSIM minus other's, mean over the pools
    spread_db: float  # standard deviation across videos of the per-video PSNR difference (NaN with one video)
    n_videos: int

    @property
    def within_noise(self) -> bool:
        """The margin does not exceed the spread across videos (or there is no spread: one video)."""
        return not (self.n_videos >= 2 and self.margin_db > self.spread_db)

    @property
    def note(self) -> str:
        """The margin and how it compares with the spread across videos, in a few words."""
        head = f"PSNR {self.margin_db:+.3f} dB over {self.other}, mean over pools; "
        if self.n_videos < 2:
            return head + "one video: no spread across videos to judge it by"
        verdict = "within noise" if self.within_noise else "beyond the spread"
        return head + f"spread across {self.n_videos} videos {self.spread_db:.3f} dB: {verdict}"

    def margin_of(self, retriever: str) -> float:
        """``retriever``'s PSNR minus the other's (dB; negative when it is the worse one)."""
        if retriever not in (self.better, self.other):
            raise DataError(f"retriever {retriever!r} was not compared (only {self.better!r} and {self.other!r})")
        return self.margin_db if retriever == self.better else -self.margin_db


def better_retriever(rows: pd.DataFrame, method: str, main_refs: int, retrievers: Sequence[str]) -> RetrieverVerdict:
    """Compare two retrievers end to end on ``method``'s per-video rows at ``main_refs`` (``retriever`` column).

    Per pool and video, the PSNR difference (first retriever minus second) on the same frames; a video's
    difference is the mean over the pools, the margin the frame-weighted mean over videos (= the mean over pools
    of the frame-weighted PSNR differences), and the spread the sample standard deviation of the videos'
    differences. DataError unless both retrievers scored the same videos in the same pools.
    """
    if len(retrievers) != 2 or retrievers[0] == retrievers[1]:
        raise DataError(f"compare exactly two retrievers, got {list(retrievers)}")
    sub = _retriever_rows(rows, method, main_refs)
    a, b = (sub[sub["retriever"] == r].set_index(["pool", "video_id"]).sort_index() for r in retrievers)
    if a.empty or b.empty or not a.index.equals(b.index):
        raise DataError(
            f"retrievers {list(retrievers)} must be scored on the same pools and videos: got {len(a)} and {len(b)} "
            "(pool, video) rows that differ"
        )
    diff = pd.DataFrame(
        {
            "PSNR": a["PSNR"] - b["PSNR"],
            "SSIM": a["SSIM"] - b["SSIM"],
            "n_frames": a["n_frames"].astype(float),
        }
    )
    per_pool = {
        str(pool): _weighted(g["PSNR"].to_numpy(float), g["n_frames"].to_numpy()) for pool, g in diff.groupby("pool")
    }
    ssim = float(
        np.mean([_weighted(g["SSIM"].to_numpy(float), g["n_frames"].to_numpy()) for _, g in diff.groupby("pool")])
    )
    per_video = diff.groupby("video_id").agg(PSNR=("PSNR", "mean"), n_frames=("n_frames", "first"))
    margin = _weighted(per_video["PSNR"].to_numpy(float), per_video["n_frames"].to_numpy())
    spread = float(per_video["PSNR"].std(ddof=1)) if len(per_video) > 1 else math.nan
    sign = 1.0 if margin >= 0 else -1.0
    return RetrieverVerdict(
        better=retrievers[0] if sign > 0 else retrievers[1],
        other=retrievers[1] if sign > 0 else retrievers[0],
        margin_db=sign * margin + 0.0,  # + 0.0: never a negative zero
        per_pool_db={pool: sign * v + 0.0 for pool, v in per_pool.items()},
        ssim_margin=sign * ssim + 0.0,
        spread_db=spread,
        n_videos=len(per_video),
    )
