"""The evaluation step's driver: colorize the test videos with every method and score the results.

Protocol (the notebook's first paragraph says the same):

- the test videos of the data-prep step (multi-scene, test-split shots only) are decoded and brought to
  the working resolution with the frame store's own pre-processing (resize to S x S, mean
  filter); optionally one frame in ``frame_step`` and at most ``max_frames`` frames per video;
- the scenes are those the scene-analysis step *detected* (so detection errors count), and each scene's
  references are the reference-selection step's top-R retrievals for that scene, from one of two pools:
  ``in_domain`` (the pool also holds other frames of the test shots, the paper's setting) or
  ``open`` (training videos only);
- every method maps (L of the clip, the scene's R references in Lab) to ab
  (:class:`scenecolor.evaluate.baselines.ColorizeMethod`); the lightness always comes from the ground
  truth, so only colour is judged; the result L + ab is converted to 8-bit sRGB;
- image measures on 8-bit RGB against the pre-processed ground truth, averaged over frames;
  temporal measures (CDC, ab change) within the ground truth's steady segments (between cuts,
  transition frames left out), so a scene change is never counted as flicker.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scenecolor.colorize.exemplar import colorize_verified
from scenecolor.colorize.refs import scene_query_frames
from scenecolor.colorize.verify import Verdict, VerifyConfig, mean_ab, verify_references
from scenecolor.core.artifacts import atomic_path
from scenecolor.core.color8 import lab_to_rgb8, rgb8_to_lab
from scenecolor.core.errors import DataError
from scenecolor.core.video import iter_frames
from scenecolor.data.frames import FrameStore
from scenecolor.evaluate import metrics
from scenecolor.evaluate.baselines import ColorizeMethod, check_method_inputs
from scenecolor.evaluate.data import (  # noqa: F401  (re-exported: the notebook's one import for the inputs)
    POOLS,
    EvalVideo,
    ReferenceTable,
    frames_of_test_shots,
    load_eval_videos,
    steady_segments,
)

OURS = "ours (scene colorizer)"
SCENE_MEASURES = ("PSNR", "SSIM")  # the measures scored scene by scene
SCENE_TARGET_DB = -1.0  # no scene of either pool more than 1 dB below grey (docs/METHOD.md, targets)


# -- our colorizer as a method ---------------------------------------------------------------
def _resize_stack(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (N,H,W[,C]) arrays to float32 (N,height,width[,C]) (area when shrinking, else bilinear)."""
    if x.shape[1:3] == (height, width):
        return np.ascontiguousarray(x, dtype=np.float32)
    interp = cv2.INTER_AREA if x.shape[1] > height else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.asarray(f, dtype=np.float32), (width, height), interpolation=interp) for f in x])


@dataclass
class ColorizerMethod:
    """Our colorizer behind the common method interface, through :class:`scenecolor.colorize.backend.ColorizerBackend`.

    The backend is what ``scenecolor colorize`` runs (``TorchColorizer``: BN folded,
    channels-last; or the ONNX export), and the call goes through the CLI's own scene function,
    :func:`scenecolor.exemplar.colorize_scene`: L and the references are resized to the
    backend's working size at the clip's aspect ratio, the flow candidates run over the whole
    scene from the first reference, the predicted ab is resized back (bilinear) and later joined
    to the full-resolution L. With ``keep_details`` the candidates, confidences and fusion weights
    of the last call are kept in ``last_details`` (for the figures).

    With ``verify`` the references are first checked against a few of the scene's grey frames (spread as
    retrieval queries them, :func:`scenecolor.colorize.refs.scene_query_frames`), as ``scenecolor colorize``
    does: the failures are dropped and a scene left with none gets the fallback (grey, or ``prior``: the
    pool's mean ab, :func:`pool_prior`); ``last_verdict`` keeps the last scene's scores.

    ``last_confidence`` keeps the last scene's per-pixel confidence (T, H, W) in [0, 1]: the fusion's blend
    confidence, 0 where verification dropped every reference
    (:func:`scenecolor.colorize.exemplar.colorize_verified`); None for a backend without fusion weights (ONNX).
    """

    backend: object  # scenecolor.colorize.backend.ColorizerBackend
    clip_len: int = 8
    name: str = OURS
    needs_references: bool = True
    keep_details: bool = False
    last_details: dict | None = None
    verify: VerifyConfig | None = None
    prior: np.ndarray | None = None  # (2,) the pool's mean ab for the prior fallback
    last_verdict: Verdict | None = None
    last_confidence: np.ndarray | None = None

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        check_method_inputs(L, refs_lab)
        scene = colorize_verified(
            self.backend, L, refs_lab, self.verify, prior=self.prior, clip_len=self.clip_len, details=self.keep_details
        )
        self.last_verdict, self.last_confidence, self.last_details = scene.verdict, scene.confidence, scene.details
        return scene.ab


def pool_prior(store: FrameStore) -> np.ndarray:
    """The mean ab (float32 (2,)) of the frame store's train split - the open pool, never a test frame - that
    the ``prior`` fallback tints a scene with when no reference passes verification."""
    ids = store.ids(split="train")
    if len(ids) == 0:
        raise DataError("the frame store has no train-split frame to take the fallback's mean colour from")
    return mean_ab(store.lab(ids))


def verification_table(
    videos: Sequence[EvalVideo],
    refs: ReferenceTable,
    store: FrameStore,
    pools: Sequence[str],
    n_refs: int,
    cfg: VerifyConfig | None = None,
) -> pd.DataFrame:
    """Every scene's top ``n_refs`` references of every pool, verified as :class:`ColorizerMethod` verifies them.

    One row per (pool, video_id, scene, rank): ref_frame_id, retrieval ``score`` (cosine), ``match`` (the
    verification score), ``kept``, and ``right_shot``: whether the reference is a frame of the shot the scene's
    key frame shows (references.csv's shot_id), the label verification should recover.
    """
    cfg = cfg or VerifyConfig()
    shot_of = store.index.set_index("frame_id")["shot_id"]
    t = refs.table
    rows = []
    for video in videos:
        for (s, e), sid in zip(video.scenes, video.scene_ids):
            L = video.lab[s:e, ..., 0]
            query = L[scene_query_frames({"start": 0, "end": e - s})]
            for pool in pools:
                ids = refs.ids(pool, video.video_id, sid, n_refs)
                verdict = verify_references(query, store.lab(ids), cfg)
                sel = t[(t["pool"] == pool) & (t["video_id"] == video.video_id) & (t["scene"] == sid)].iloc[:n_refs]
                for k, (ref, row) in enumerate(zip(ids, sel.itertuples())):
                    rows.append(
                        {
                            "pool": pool,
                            "video_id": video.video_id,
                            "scene": sid,
                            "rank": k + 1,
                            "ref_frame_id": int(ref),
                            "score": float(row.score),
                            "match": float(verdict.scores[k]),
                            "kept": bool(verdict.keep[k]),
                            "right_shot": bool(shot_of.loc[int(ref)] == row.shot_id),
                        }
                    )
    return pd.DataFrame(rows)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (ties count half); NaN without both classes."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return math.nan
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def verification_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per pool (and all together): references of the right shot and of others, how many of each were kept,
    and the ROC AUC of the verification ``match`` beside the retrieval ``score`` for telling them apart."""
    rows = []
    for pool, g in [*table.groupby("pool", sort=False), ("all", table)]:
        right = g["right_shot"].to_numpy()
        rows.append(
            {
                "pool": pool,
                "references": len(g),
                "right_shot": int(right.sum()),
                "right_kept": int((g["kept"] & g["right_shot"]).sum()),
                "other": int((~right).sum()),
                "other_kept": int((g["kept"] & ~g["right_shot"]).sum()),
                "scenes_none_kept": int((~g.groupby(["pool", "video_id", "scene"])["kept"].any()).sum()),
                "AUC_match": roc_auc(right, g["match"].to_numpy()),
                "AUC_retrieval_score": roc_auc(right, g["score"].to_numpy()),
            }
        )
    return pd.DataFrame(rows)


# -- running and scoring -----------------------------------------------------------------------
def render(video: EvalVideo, ab: np.ndarray) -> np.ndarray:
    """Ground-truth L + predicted ab -> 8-bit sRGB frames (out-of-gamut colours clipped).

    Through :func:`scenecolor.core.color8.lab_to_rgb8` (lookup tables; scikit-image's result but ten
    times faster), since every method's every clip passes here.
    """
    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape != (*video.frames.shape[:3], 2):
        raise DataError(
            f"'{video.video_id}': predicted ab has shape {ab.shape}, expected {(*video.frames.shape[:3], 2)}"
        )
    return lab_to_rgb8(np.concatenate([video.lab[..., :1], ab], axis=-1))


def colorize_video(method: ColorizeMethod, video: EvalVideo, refs: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Run ``method`` scene by scene (each with its own references); ab (T,S,S,2) and seconds taken."""
    if len(refs) != len(video.scenes):
        raise DataError(f"'{video.video_id}': {len(video.scenes)} scenes but {len(refs)} reference sets")
    ab = np.empty((*video.frames.shape[:3], 2), dtype=np.float32)
    start = time.perf_counter()
    for (s, e), ref in zip(video.scenes, refs):
        ab[s:e] = method(video.lab[s:e, ..., 0], ref)
    return ab, time.perf_counter() - start


def temporal_scores(video: EvalVideo, rgb: np.ndarray) -> dict[str, float]:
    """CDC and ab change of ``rgb`` within the steady segments (pairs never straddle a cut)."""
    lab, true_lab = rgb8_to_lab(rgb), video.lab_fast  # the same conversion for both
    cdcs, d_sum, gt_sum, err_sum, pairs = [], 0.0, 0.0, 0.0, 0
    for s, e in video.steady:
        if e - s < 2:
            continue
        cdcs.append(metrics.cdc(rgb[s:e]))
        t = metrics.ab_temporal_metrics(true_lab[s:e, ..., 1:], lab[s:e, ..., 1:])
        n = e - s - 1
        d_sum, gt_sum, err_sum, pairs = (
            d_sum + t["dAB"] * n,
            gt_sum + t["dAB_gt"] * n,
            err_sum + t["dAB_err"] * n,
            pairs + n,
        )
    nan = math.nan
    return {
        "CDC": float(np.mean(cdcs)) if cdcs else nan,
        "n_segments": len(cdcs),
        "dAB": d_sum / pairs if pairs else nan,
        "dAB_gt": gt_sum / pairs if pairs else nan,
        "dAB_err": err_sum / pairs if pairs else nan,
        "n_pairs": pairs,
    }


def score_video(video: EvalVideo, rgb: np.ndarray, per_frame: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Every image measure (frame mean, undefined frames skipped) plus the temporal ones (``per_frame``: the
    image measures per frame when already computed, :func:`scenecolor.evaluate.metrics.per_frame_metrics`)."""
    per = per_frame if per_frame is not None else metrics.per_frame_metrics(video.frames, rgb)
    row: dict[str, float] = {name: metrics.finite_mean(v) for name, v in per.items()}
    row.update(temporal_scores(video, rgb))
    row["colorfulness"] = metrics.colorfulness(rgb)
    return row


@dataclass
class EvaluationResult:
    """Per-video rows (one per video x method x pool x R) and the frames kept for figures/videos."""

    rows: pd.DataFrame
    outputs: dict[tuple[str, str], np.ndarray]  # (method, video_id) -> uint8 frames, main setting
    references: dict[str, list[np.ndarray]]  # video_id -> per-scene refs (main pool and R), uint8
    # (method, pool, R, video_id) -> {"PSNR": (T,), "SSIM": (T,)} per frame, for per-scene scores
    frame_scores: dict[tuple[str, str, int, str], dict[str, np.ndarray]] = field(default_factory=dict)


def evaluate(
    videos: Sequence[EvalVideo],
    refs: ReferenceTable,
    store: FrameStore,
    ours: ColorizeMethod | None,
    baselines: Sequence[ColorizeMethod],
    pools: Sequence[str],
    ref_counts: Sequence[int],
    main_refs: int,
    baselines_all_refs: bool = False,
) -> EvaluationResult:
    """Colorize and score every video with every (method, pool, R) of the protocol.

    ``ours`` runs at every R of ``ref_counts`` in every pool (Table III); the baselines at
    ``main_refs`` only (or every R with ``baselines_all_refs``). A method whose output does not
    depend on the references (gray) runs once and is listed under every pool. The frames of the
    first pool at ``main_refs`` are kept for the figures and videos.
    """
    if not pools:
        raise DataError("no reference pool to evaluate: pass at least one of " + ", ".join(POOLS))
    ref_counts = sorted({*ref_counts, main_refs})
    rows, outputs, ref_frames, frame_scores = [], {}, {}, {}
    plan: list[tuple[ColorizeMethod, str, int]] = []
    for method in ([ours] if ours is not None else []) + list(baselines):
        counts = ref_counts if (method is ours or baselines_all_refs) else [main_refs]
        plan += [(method, pool, r) for pool in pools for r in counts]
    bar = tqdm(total=len(plan) * len(videos), desc="evaluate", leave=False)
    for video in videos:
        ref_cache = {
            pool: [store.lab(refs.ids(pool, video.video_id, sid, max(ref_counts))) for sid in video.scene_ids]
            for pool in pools
        }
        ref_frames[video.video_id] = [
            store.uint8(refs.ids(pools[0], video.video_id, sid, main_refs)) for sid in video.scene_ids
        ]
        once: dict[str, dict] = {}  # rows of methods that ignore the references, by name
        once_frames: dict[str, dict[str, np.ndarray]] = {}
        for method, pool, r in plan:
            bar.update(1)
            ref_free = not getattr(method, "needs_references", True)
            if ref_free and method.name in once:
                rows.append({**once[method.name], "pool": pool, "n_refs": r})
                frame_scores[(method.name, pool, r, video.video_id)] = once_frames[method.name]
                continue
            ab, seconds = colorize_video(method, video, [x[:r] for x in ref_cache[pool]])
            rgb = render(video, ab)
            per = metrics.per_frame_metrics(video.frames, rgb)
            frame_scores[(method.name, pool, r, video.video_id)] = {k: per[k] for k in SCENE_MEASURES}
            row = {
                "video_id": video.video_id,
                "method": method.name,
                "pool": pool,
                "n_refs": r,
                "n_frames": video.n_frames,
            }
            row.update(score_video(video, rgb, per))
            row["sec_per_frame"] = seconds / video.n_frames
            rows.append(row)
            if ref_free:
                once[method.name] = row
                once_frames[method.name] = frame_scores[(method.name, pool, r, video.video_id)]
            if pool == pools[0] and r == main_refs:
                outputs[(method.name, video.video_id)] = rgb
    bar.close()
    return EvaluationResult(pd.DataFrame(rows), outputs, ref_frames, frame_scores)


# -- scene by scene: where ours falls below grey ------------------------------------------------------
def scene_scores(
    videos: Sequence[EvalVideo],
    result: EvaluationResult,
    methods: Sequence[str],
    grey: str,
    n_refs: int,
    verification: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every scene of every video scored on its own frames, per pool, for ``methods`` and ``grey`` at ``n_refs``.

    One row per (video_id, scene, pool, method): ``PSNR`` and ``SSIM`` (mean over the scene's frames, undefined
    frames skipped, as the per-video rows), ``n_frames``, and ``PSNR_vs_grey`` / ``SSIM_vs_grey``: the row's
    value minus grey's on the same scene (0 for grey). ``scene`` is the scene's id in scenes.json. With
    ``verification`` (:func:`verification_table`) each row also says how many of the scene's references
    verification kept in that pool (``refs_kept`` of ``refs``). Reads ``result.frame_scores``
    (:func:`evaluate`); DataError when a (method, pool, R) was not evaluated.
    """
    pools = list(dict.fromkeys(result.rows["pool"])) if len(result.rows) else []
    kept = None
    if verification is not None and len(verification):
        kept = verification.groupby(["pool", "video_id", "scene"])["kept"].agg(["sum", "size"])
    rows = []
    for video in videos:
        for pool in pools:
            per = {}
            for method in (*methods, grey):
                key = (method, pool, n_refs, video.video_id)
                if key not in result.frame_scores:
                    raise DataError(
                        f"no per-frame scores of '{method}' in pool '{pool}' at R = {n_refs} for '{video.video_id}': "
                        "evaluate that method, pool and R first (protocol.evaluate)"
                    )
                per[method] = result.frame_scores[key]
            for (s, e), sid in zip(video.scenes, video.scene_ids):
                base = {m: metrics.finite_mean(per[grey][m][s:e]) for m in SCENE_MEASURES}
                for method in (*methods, grey):
                    row: dict[str, object] = {
                        "video_id": video.video_id,
                        "scene": int(sid),
                        "pool": pool,
                        "method": method,
                        "n_frames": e - s,
                    }
                    for m in SCENE_MEASURES:
                        row[m] = metrics.finite_mean(per[method][m][s:e])
                        row[f"{m}_vs_grey"] = float(row[m]) - base[m]  # type: ignore[arg-type]
                    if kept is not None and (pool, video.video_id, sid) in kept.index:
                        k = kept.loc[(pool, video.video_id, sid)]
                        row["refs_kept"], row["refs"] = int(k["sum"]), int(k["size"])
                    rows.append(row)
    return pd.DataFrame(rows)


def scene_target(scenes: pd.DataFrame, method: str, threshold: float = SCENE_TARGET_DB) -> pd.DataFrame:
    """The per-scene target, computed: per pool and over both, ``method``'s worst scene (``PSNR_vs_grey``, dB) and
    whether it is at least ``threshold`` (met: no scene more than ``-threshold`` dB below grey).

    Columns: pool ("all" last), scenes, worst_scene ("video_id:scene"), worst_PSNR_vs_grey, scenes_below (how
    many scenes miss the threshold), threshold, met. DataError when ``method`` has no scene row.
    """
    ours = scenes[scenes["method"] == method]
    if ours.empty:
        raise DataError(f"no per-scene row of '{method}': score its scenes first (protocol.scene_scores)")
    out = []
    for pool, g in [*ours.groupby("pool", sort=False), ("all", ours)]:
        worst = g.loc[g["PSNR_vs_grey"].idxmin()]
        out.append(
            {
                "pool": pool,
                "scenes": len(g),
                "worst_scene": f"{worst['video_id']}:{int(worst['scene'])}"
                + (f" ({worst['pool']})" if pool == "all" else ""),
                "worst_PSNR_vs_grey": float(worst["PSNR_vs_grey"]),
                "scenes_below": int((g["PSNR_vs_grey"] < threshold).sum()),
                "threshold": threshold,
                "met": bool(worst["PSNR_vs_grey"] >= threshold),
            }
        )
    return pd.DataFrame(out)


@dataclass
class SceneCase:
    """One scene of one pool as ours colorized it, for the worst-scenes figure: the scene's middle frame as grey
    input, ours and truth (uint8 (S, S, 3)), ours' confidence there (float32 (S, S) in [0, 1]), every reference
    (uint8 (R, S, S, 3)) with its verification match score and whether it was kept."""

    video_id: str
    scene: int
    pool: str
    psnr_vs_grey: float
    frame: int  # index of the shown frame in the video's kept frames
    grey: np.ndarray
    ours: np.ndarray
    truth: np.ndarray
    confidence: np.ndarray
    refs: np.ndarray
    match: np.ndarray  # float32 (R,), NaN without verification
    kept: np.ndarray  # bool (R,)
    aspect: float = 1.0  # width / height the frames are shown at


def scene_cases(
    rows: pd.DataFrame,
    videos: Sequence[EvalVideo],
    refs: ReferenceTable,
    store: FrameStore,
    ours: ColorizerMethod,
    n_refs: int,
) -> list[SceneCase]:
    """Colorize again each scene of ``rows`` (from :func:`scene_scores`: video_id, scene, pool, PSNR_vs_grey) with
    ``ours`` and its references of that pool, keeping the middle frame, its confidence and the verdict."""
    by_id = {v.video_id: v for v in videos}
    cases = []
    for row in rows.itertuples():
        video = by_id.get(row.video_id)
        if video is None or int(row.scene) not in video.scene_ids:
            raise DataError(f"scene {row.video_id}:{row.scene} is not among the evaluated videos' scenes")
        s, e = video.scenes[video.scene_ids.index(int(row.scene))]
        ids = refs.ids(row.pool, video.video_id, int(row.scene), n_refs)
        refs_lab = store.lab(ids)
        ab = ours(video.lab[s:e, ..., 0], refs_lab)
        mid = (e - s - 1) // 2
        conf = ours.last_confidence
        verdict = ours.last_verdict
        lab = video.lab[s + mid].copy()
        grey = lab.copy()
        grey[..., 1:] = 0
        lab[..., 1:] = ab[mid]
        cases.append(
            SceneCase(
                video_id=video.video_id,
                scene=int(row.scene),
                pool=row.pool,
                psnr_vs_grey=float(row.PSNR_vs_grey),
                frame=s + mid,
                grey=lab_to_rgb8(grey),
                ours=lab_to_rgb8(lab),
                truth=video.frames[s + mid],
                confidence=(conf[mid] if conf is not None else np.full(ab.shape[1:3], np.nan)).astype(np.float32),
                refs=store.uint8(ids),
                match=verdict.scores if verdict is not None else np.full(len(ids), np.nan, np.float32),
                kept=verdict.keep if verdict is not None else np.ones(len(ids), bool),
                aspect=video.display_aspect,
            )
        )
    return cases


def roundtrip_check(videos: Sequence[EvalVideo]) -> pd.DataFrame:
    """The ground truth's own ab through the same rendering: the best any method can score here.

    Shows how much the Lab round trip and 8-bit rounding alone cost (PSNR well above 40 dB).
    """
    rows = []
    for video in videos:
        rgb = render(video, video.lab[..., 1:])
        rows.append({"video_id": video.video_id, "n_frames": video.n_frames, **score_video(video, rgb)})
    return pd.DataFrame(rows)


def compare_videos(
    truth: str | os.PathLike[str], colorized: str | os.PathLike[str], max_frames: int = 0
) -> dict[str, float]:
    """Every measure of a colorized video file against its ground-truth file, streamed frame by frame.

    Both must have the same frame count and size (the colorized one is compared as it is; no
    resizing). Image measures are frame means; CDC and dAB run over the whole video, so a scene
    cut counts as change here (``CDC_truth`` is the ground truth's own CDC for comparison).
    Used by ``scenecolor metrics``; memory holds two frames and the per-frame histograms.
    """
    from itertools import zip_longest

    per: dict[str, list[float]] = {name: [] for name in metrics.IMAGE_MEASURES}
    hist_t, hist_c = [], []
    prev = None
    d_sum = gt_sum = err_sum = 0.0
    n = 0
    for k, q in zip_longest(iter_frames(truth), iter_frames(colorized)):
        if k is None or q is None:
            raise DataError(
                f"'{truth}' and '{colorized}' differ in frame count (one ends after {n} frames); compare the same clip"
            )
        if k.shape != q.shape:
            raise DataError(
                f"frame {n}: '{truth}' is {k.shape[1]}x{k.shape[0]}, '{colorized}' is {q.shape[1]}x{q.shape[0]}; "
                "resize "
                ""
                ""
                ""
                "to the same size first"
            )
        for name, v in metrics.per_frame_metrics(k, q).items():
            per[name].append(float(v[0]))
        hist_t.append(metrics.channel_histograms(k[None])[0])
        hist_c.append(metrics.channel_histograms(q[None])[0])
        ab_k, ab_q = rgb8_to_lab(k)[..., 1:], rgb8_to_lab(q)[..., 1:]
        if prev is not None:
            dk, dq = ab_k - prev[0], ab_q - prev[1]
            d_sum, gt_sum, err_sum = (
                d_sum + np.abs(dq).mean(),
                gt_sum + np.abs(dk).mean(),
                err_sum + np.abs(dq - dk).mean(),
            )
        prev = (ab_k, ab_q)
        n += 1
        if max_frames and n >= max_frames:
            break
    out: dict[str, float] = {name: metrics.finite_mean(v) for name, v in per.items()}
    pairs = max(1, n - 1)
    out.update(
        {
            "CDC": metrics.cdc_from_histograms(np.stack(hist_c)) if n > 1 else math.nan,
            "CDC_truth": metrics.cdc_from_histograms(np.stack(hist_t)) if n > 1 else math.nan,
            "dAB": d_sum / pairs if n > 1 else math.nan,
            "dAB_gt": gt_sum / pairs if n > 1 else math.nan,
            "dAB_err": err_sum / pairs if n > 1 else math.nan,
            "n_frames": n,
        }
    )
    return out


def save_rows(result: EvaluationResult, folder: str | os.PathLike[str]) -> Path:
    """Write every per-video row (video x method x pool x R, all measures) to ``metrics.csv`` atomically."""
    path = Path(folder) / "metrics.csv"
    with atomic_path(path) as tmp:
        result.rows.to_csv(tmp, index=False)
    return path
