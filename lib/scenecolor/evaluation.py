"""Notebook 05's driver: colorize the test videos with every method and score the results.

Protocol (the notebook's first paragraph says the same):

- the test videos of notebook 00 (multi-scene, test-split shots only) are decoded and brought to
  the working resolution with the frame store's own pre-processing (resize to S x S, mean
  filter); optionally one frame in ``frame_step`` and at most ``max_frames`` frames per video;
- the scenes are those notebook 02 *detected* (so detection errors count), and each scene's
  references are notebook 03's top-R retrievals for that scene, from one of two pools:
  ``in_domain`` (the pool also holds other frames of the test shots, the paper's setting) or
  ``open`` (training videos only);
- every method maps (L of the clip, the scene's R references in Lab) to ab
  (:class:`scenecolor.baselines.ColorizeMethod`); the lightness always comes from the ground
  truth, so only colour is judged; the result L + ab is converted to 8-bit sRGB;
- image measures on 8-bit RGB against the pre-processed ground truth, averaged over frames;
  temporal measures (CDC, ab change) within the ground truth's steady segments (between cuts,
  transition frames left out), so a scene change is never counted as flicker.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import metrics as M
from .artifacts import read_json
from .baselines import ColorizeMethod, check_method_inputs
from .color import rgb_to_lab, torch_lab_to_rgb, torch_rgb_to_lab
from .errors import DataError
from .frames import FrameStore, Preprocess, preprocess_frame
from .video import iter_frames

POOLS = ("in_domain", "open")
OURS = "ours (scene colorizer)"


# -- inputs ------------------------------------------------------------------------------------
@dataclass
class EvalVideo:
    """One test video at the working resolution, with its detected scenes and true steady segments.

    ``scenes`` and ``steady`` are ``[start, end)`` index ranges into ``frames`` (after frame
    selection); ``source_frames`` maps each kept frame to its frame number in the video file.
    """

    video_id: str
    frames: np.ndarray  # uint8 (T, S, S, 3), the ground truth
    fps: float
    scenes: list[tuple[int, int]]
    steady: list[tuple[int, int]]
    source_frames: np.ndarray
    scene_ids: list[int] = field(default_factory=list)  # index of each scene in scenes.json

    def __post_init__(self) -> None:
        if self.frames.dtype != np.uint8 or self.frames.ndim != 4 or self.frames.shape[-1] != 3 or len(self.frames) == 0:
            raise DataError(f"test video '{self.video_id}': frames must be uint8 (T,S,S,3) with T > 0, got {self.frames.dtype} {self.frames.shape}")
        if not self.scene_ids:
            self.scene_ids = list(range(len(self.scenes)))
        covered = sum(e - s for s, e in self.scenes)
        if covered != len(self.frames) or any(s >= e for s, e in self.scenes):
            raise DataError(f"test video '{self.video_id}': scenes {self.scenes} must tile its {len(self.frames)} frames without gaps")

    @cached_property
    def lab(self) -> np.ndarray:
        """The ground truth in CIE Lab, float32 (T, S, S, 3)."""
        return rgb_to_lab(self.frames)

    @cached_property
    def lab_fast(self) -> np.ndarray:
        """The ground truth in Lab through :func:`fast_lab`, the conversion the temporal measures use."""
        return fast_lab(self.frames)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def _ranges_to_kept(ranges: Iterable[tuple[int, int]], kept: np.ndarray) -> list[tuple[int, int]]:
    """Map [start, end) ranges of source frames onto index ranges of the kept frames (empty dropped)."""
    out = []
    for s, e in ranges:
        idx = np.flatnonzero((kept >= s) & (kept < e))
        if idx.size:
            out.append((int(idx[0]), int(idx[-1]) + 1))
    return out


def steady_segments(n_frames: int, cuts: Sequence[int], transitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Frame ranges [start, end) between cuts with every transition frame left out."""
    bounds = [0, *sorted(int(c) for c in cuts), n_frames]
    blocked = np.zeros(n_frames, dtype=bool)
    for s, e in transitions:
        blocked[max(0, s) : min(n_frames, e)] = True
    segs = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        run_start = None
        for i in range(a, b + 1):
            free = i < b and not blocked[i]
            if free and run_start is None:
                run_start = i
            elif not free and run_start is not None:
                segs.append((run_start, i))
                run_start = None
    return segs


def load_test_videos(
    data_dir: Path,
    scenes_path: Path,
    prep: Preprocess,
    max_videos: int = 0,
    max_frames: int = 0,
    frame_step: int = 1,
    test_shots_only: bool = True,
) -> list[EvalVideo]:
    """Decode notebook 00's test videos, pre-process them like the frame store, attach scenes.

    Args:
        data_dir: artifact folder of 00_data_prep (holds ``test_videos.json``).
        scenes_path: notebook 02's ``scenes.json``.
        prep: the frame store's pre-processing (size, mean filter, resize mode).
        max_videos, max_frames: 0 = all; otherwise the first videos / first kept frames.
        frame_step: keep one frame in ``frame_step``.
        test_shots_only: drop frames showing a shot of the train or val split (see
            :func:`frames_of_test_shots`); a video left with no frame is skipped.
    """
    listing = Path(data_dir) / "test_videos.json"
    if not listing.is_file():
        raise DataError(f"'{listing}' does not exist; run notebooks/00_data_prep.ipynb in this run folder first")
    if not Path(scenes_path).is_file():
        raise DataError(f"scene list '{scenes_path}' does not exist; run notebooks/02_scene_analysis.ipynb first")
    if frame_step < 1 or max_frames < 0 or max_videos < 0:
        raise DataError(f"frame_step must be >= 1 and max_frames, max_videos >= 0; got {frame_step}, {max_frames}, {max_videos}")
    entries = read_json(listing)["videos"]
    scenes = read_json(scenes_path)
    out: list[EvalVideo] = []
    skipped: list[str] = []
    for entry in tqdm(entries, desc="decode test videos", leave=False):
        if max_videos and len(out) == max_videos:
            break
        vid = str(entry["video_id"])
        if vid not in scenes:
            raise DataError(f"scenes.json '{scenes_path}' has no entry for test video '{vid}'; re-run notebook 02")
        n_total = int(entry["n_frames"])
        kept = np.arange(0, n_total, frame_step)
        if test_shots_only:
            kept = kept[frames_of_test_shots(entry)[kept]]
        if max_frames:
            kept = kept[:max_frames]
        if kept.size == 0:
            skipped.append(vid)
            continue
        wanted, frames = set(kept.tolist()), []
        for i, frame in enumerate(iter_frames(Path(data_dir) / entry["path"])):
            if i in wanted:
                frames.append(preprocess_frame(frame, prep))
            if i >= kept[-1]:
                break
        if len(frames) != len(kept):
            raise DataError(f"test video '{vid}' decodes to fewer frames than test_videos.json lists ({n_total}); re-run notebook 00")
        detected = [(int(s["start"]), int(s["end"])) for s in scenes[vid]["scenes"]]
        scene_ranges, scene_ids = [], []
        for i, (s, e) in enumerate(detected):
            mapped = _ranges_to_kept([(s, e)], kept)
            if mapped:
                scene_ranges.append(mapped[0])
                scene_ids.append(i)
        transitions = [(int(t["start"]), int(t["end"])) for t in entry.get("transitions", [])]
        steady = _ranges_to_kept(steady_segments(n_total, entry["cuts"], transitions), kept)
        out.append(EvalVideo(vid, np.stack(frames), float(entry["fps"]), scene_ranges, steady, kept, scene_ids))
    if not out:
        raise DataError(
            f"'{listing}' lists no test video with test-split frames (skipped: {skipped}); "
            "notebook 00 needs n_test_videos >= 1"
        )
    return out


def frames_of_test_shots(entry: dict) -> np.ndarray:
    """Per frame of a test video: True when every shot showing in it belongs to the test split.

    A real multi-shot video (bikes) mixes shots of all splits; only its test-split shots may be
    scored, or training footage would flatter every method that learned from it.
    """
    n = int(entry["n_frames"])
    mask = np.ones(n, dtype=bool)
    for shot in entry.get("shots", []):
        if str(shot.get("split", "test")) != "test":
            mask[max(0, int(shot["start"])) : min(n, int(shot["end"]))] = False
    return mask


@dataclass(frozen=True)
class ReferenceTable:
    """Notebook 03's ``references.csv`` (scene queries): ranked frame-store ids per pool and scene."""

    table: pd.DataFrame

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> "ReferenceTable":
        p = Path(path)
        if not p.is_file():
            raise DataError(f"reference list '{p}' does not exist; run notebooks/03_reference_selection.ipynb first")
        df = pd.read_csv(p, dtype={"video_id": str, "shot_id": str, "pool": str, "query_kind": str})
        needed = {"query_kind", "video_id", "scene", "pool", "rank", "ref_frame_id"}
        if not needed <= set(df.columns):
            raise DataError(f"reference list '{p}' lacks columns {sorted(needed - set(df.columns))}; re-run notebook 03")
        return cls(df[df["query_kind"] == "scene"].sort_values("rank").reset_index(drop=True))

    def pools(self) -> list[str]:
        return [p for p in POOLS if p in set(self.table["pool"])] + sorted(set(self.table["pool"]) - set(POOLS))

    def ids(self, pool: str, video_id: str, scene: int, n_refs: int) -> np.ndarray:
        """The top ``n_refs`` reference frame ids of one scene, best first."""
        t = self.table
        rows = t[(t["pool"] == pool) & (t["video_id"] == video_id) & (t["scene"] == scene)]
        if rows.empty:
            raise DataError(f"references.csv has no '{pool}' references for scene {scene} of '{video_id}'; re-run notebook 03")
        if len(rows) < n_refs:
            raise DataError(f"scene {scene} of '{video_id}' has {len(rows)} '{pool}' references, {n_refs} asked; raise top-k in notebook 03")
        return rows["ref_frame_id"].to_numpy()[:n_refs].astype(np.int64)


# -- our colorizer as a method ---------------------------------------------------------------
def _resize_stack(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (N,H,W[,C]) arrays to float32 (N,height,width[,C]) (area when shrinking, else bilinear)."""
    if x.shape[1:3] == (height, width):
        return np.ascontiguousarray(x, dtype=np.float32)
    interp = cv2.INTER_AREA if x.shape[1] > height else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.asarray(f, dtype=np.float32), (width, height), interpolation=interp) for f in x])


@dataclass
class ColorizerMethod:
    """Our colorizer behind the common method interface, through :class:`scenecolor.colorize.ColorizerBackend`.

    The backend is what ``scenecolor colorize`` runs (``TorchColorizer``: BN folded,
    channels-last; or the ONNX export), so the evaluation measures exactly that code. L and the
    references are resized to the backend's working resolution, the predicted ab is resized back
    (bilinear) and later joined to the full-resolution L, as the CLI does. References are encoded
    once per call (once per scene) and reused for every clip of ``clip_len`` frames.
    """

    backend: "object"  # scenecolor.colorize.ColorizerBackend
    clip_len: int = 8
    name: str = OURS
    needs_references: bool = True

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        check_method_inputs(L, refs_lab)
        res = int(self.backend.resolution)  # type: ignore[attr-defined]
        small_L = _resize_stack(L, res, res) / 100.0
        feats = self.backend.encode_references(_resize_stack(refs_lab, res, res))  # type: ignore[attr-defined]
        out = np.empty((*L.shape, 2), dtype=np.float32)
        for s in range(0, L.shape[0], self.clip_len):
            ab = self.backend.predict_ab(small_L[s : s + self.clip_len], feats)  # type: ignore[attr-defined]
            out[s : s + self.clip_len] = _resize_stack(ab, L.shape[1], L.shape[2])
        return out


# -- running and scoring -----------------------------------------------------------------------
def to_uint8(rgb01: np.ndarray) -> np.ndarray:
    """Float RGB in [0,1] -> 8-bit."""
    return (np.clip(rgb01, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render(video: EvalVideo, ab: np.ndarray) -> np.ndarray:
    """Ground-truth L + predicted ab -> 8-bit sRGB frames (out-of-gamut colours clipped).

    Uses the torch twin of :func:`scenecolor.color.lab_to_rgb` in float32 (8x faster than
    scikit-image here; the same 8-bit result).
    """
    import torch

    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape != (*video.frames.shape[:3], 2):
        raise DataError(f"'{video.video_id}': predicted ab has shape {ab.shape}, expected {(*video.frames.shape[:3], 2)}")
    lab = np.concatenate([video.lab[..., :1], ab], axis=-1)
    return to_uint8(torch_lab_to_rgb(torch.from_numpy(lab), dim=-1).numpy())


def fast_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB -> Lab float32 through the torch twin of :func:`scenecolor.color.rgb_to_lab`."""
    import torch

    return torch_rgb_to_lab(torch.from_numpy(rgb.astype(np.float32) / 255.0), dim=-1).numpy()


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
    lab, true_lab = fast_lab(rgb), video.lab_fast  # the same conversion for both
    cdcs, d_sum, gt_sum, err_sum, pairs = [], 0.0, 0.0, 0.0, 0
    for s, e in video.steady:
        if e - s < 2:
            continue
        cdcs.append(M.cdc(rgb[s:e]))
        t = M.ab_temporal_metrics(true_lab[s:e, ..., 1:], lab[s:e, ..., 1:])
        n = e - s - 1
        d_sum, gt_sum, err_sum, pairs = d_sum + t["dAB"] * n, gt_sum + t["dAB_gt"] * n, err_sum + t["dAB_err"] * n, pairs + n
    nan = math.nan
    return {
        "CDC": float(np.mean(cdcs)) if cdcs else nan,
        "n_segments": len(cdcs),
        "dAB": d_sum / pairs if pairs else nan,
        "dAB_gt": gt_sum / pairs if pairs else nan,
        "dAB_err": err_sum / pairs if pairs else nan,
        "n_pairs": pairs,
    }


def score_video(video: EvalVideo, rgb: np.ndarray) -> dict[str, float]:
    """Every image measure (frame mean, undefined frames skipped) plus the temporal ones."""
    per = M.per_frame_metrics(video.frames, rgb)
    row: dict[str, float] = {name: M.finite_mean(v) for name, v in per.items()}
    row.update(temporal_scores(video, rgb))
    row["colorfulness"] = M.colorfulness(rgb)
    return row


@dataclass
class EvaluationResult:
    """Per-video rows (one per video x method x pool x R) and the frames kept for figures/videos."""

    rows: pd.DataFrame
    outputs: dict[tuple[str, str], np.ndarray]  # (method, video_id) -> uint8 frames, main setting
    references: dict[str, list[np.ndarray]]  # video_id -> per-scene refs (main pool and R), uint8


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
    if main_refs not in ref_counts:
        ref_counts = sorted({*ref_counts, main_refs})
    rows, outputs, ref_frames = [], {}, {}
    plan: list[tuple[ColorizeMethod, str, int]] = []
    for method in ([ours] if ours is not None else []) + list(baselines):
        counts = ref_counts if (method is ours or baselines_all_refs) else [main_refs]
        plan += [(method, pool, r) for pool in pools for r in counts]
    bar = tqdm(total=len(plan) * len(videos), desc="evaluate", leave=False)
    for video in videos:
        ref_cache = {pool: [store.lab(refs.ids(pool, video.video_id, sid, max(ref_counts))) for sid in video.scene_ids] for pool in pools}
        ref_frames[video.video_id] = [store.uint8(refs.ids(pools[0], video.video_id, sid, main_refs)) for sid in video.scene_ids]
        gray_row: dict | None = None
        for method, pool, r in plan:
            bar.update(1)
            ref_free = not getattr(method, "needs_references", True)
            if ref_free and gray_row is not None:
                rows.append({**gray_row, "pool": pool, "n_refs": r})
                continue
            ab, seconds = colorize_video(method, video, [x[:r] for x in ref_cache[pool]])
            rgb = render(video, ab)
            row = {"video_id": video.video_id, "method": method.name, "pool": pool, "n_refs": r, "n_frames": video.n_frames}
            row.update(score_video(video, rgb))
            row["sec_per_frame"] = seconds / video.n_frames
            rows.append(row)
            if ref_free:
                gray_row = row
            if pool == pools[0] and r == main_refs:
                outputs[(method.name, video.video_id)] = rgb
    bar.close()
    return EvaluationResult(pd.DataFrame(rows), outputs, ref_frames)


def roundtrip_check(videos: Sequence[EvalVideo]) -> pd.DataFrame:
    """The ground truth's own ab through the same rendering: the best any method can score here.

    Shows how much the Lab round trip and 8-bit rounding alone cost (PSNR well above 40 dB).
    """
    rows = []
    for video in videos:
        rgb = render(video, video.lab[..., 1:])
        rows.append({"video_id": video.video_id, "n_frames": video.n_frames, **score_video(video, rgb)})
    return pd.DataFrame(rows)


def store_preprocess(data_dir: str | os.PathLike[str]) -> Preprocess:
    """The pre-processing notebook 00 applied to the frame store (from its meta.json parameters)."""
    meta = Path(data_dir) / "meta.json"
    if not meta.is_file():
        raise DataError(f"'{meta}' does not exist; run notebooks/00_data_prep.ipynb in this run folder first")
    params = read_json(meta).get("params", {})
    return Preprocess(size=int(params.get("size", 224)), mean_filter=int(params.get("mean_filter", 3)),
                      resize_mode=params.get("resize_mode", "stretch"))
