"""Notebook 02's experiments as functions: run detectors over the test videos and score them.

``test_videos.json`` (written by notebook 00, format in docs/ARCHITECTURE.md) lists each
multi-scene video with its true cuts and transitions. Every function here returns plain tables
(pandas DataFrames) so the notebook shows them and the CLI can print them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .artifacts import atomic_write_json, read_json
from .errors import DataError
from .scene_metrics import CutScore, average_precision, score_by_kind
from .scenes import CutDetector, Detection, SsimConfig, decode_only, run_detector, select_cuts


@dataclass(frozen=True)
class TestVideo:
    """One entry of test_videos.json: a video and its ground truth."""

    video_id: str
    path: Path
    n_frames: int
    fps: float
    cuts: tuple[int, ...]
    kinds: tuple[str, ...]  # hard | fade | dissolve, one per cut
    windows: tuple[tuple[int, int], ...]  # frames where each cut may be placed


def load_test_videos(path: str | os.PathLike[str]) -> list[TestVideo]:
    """Read test_videos.json; video paths are relative to its folder. Raises DataError if malformed."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"test video list '{p}' does not exist; run notebook 00 (data prep) first")
    try:
        entries = read_json(p)["videos"]
        out = []
        for e in entries:
            cuts = tuple(int(c) for c in e["cuts"])
            by_cut = {int(t["cut"]): t for t in e.get("transitions", [])}
            kinds = tuple(str(by_cut[c]["kind"]) if c in by_cut else "hard" for c in cuts)
            windows = tuple((int(by_cut[c]["start"]), int(by_cut[c]["end"])) if c in by_cut else (c, c) for c in cuts)
            out.append(TestVideo(str(e["video_id"]), p.parent / e["path"], int(e["n_frames"]), float(e["fps"]), cuts, kinds, windows))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"test video list '{p}' is malformed ({exc!r}); re-run notebook 00") from exc
    return out


def score_detection(det: Detection, video: TestVideo, tolerance: int) -> dict[str, float]:
    """One table row: P/R/F1 overall and per transition kind, AP of the scores, frames/s."""
    by_kind = score_by_kind(det.cuts, video.cuts, video.kinds, tolerance, video.windows)
    row: dict[str, float] = {"video": video.video_id, "detector": det.detector, **by_kind["all"].as_dict()}
    for kind in ("hard", "fade", "dissolve"):
        row[f"recall_{kind}"] = by_kind[kind].recall if kind in by_kind else math.nan
    hard = by_kind.get("hard")
    row["f1_hard"] = hard.f1 if hard else math.nan
    row["ap"] = average_precision(det.scores, video.cuts, tolerance, video.windows, det.frame_index) if det.threshold is not None else math.nan
    row["frames_per_s"] = det.frames_per_s
    row["decode_s"], row["score_s"] = det.decode_s, det.score_s
    return row


def run_all(
    videos: Sequence[TestVideo], detectors: Iterable[CutDetector], tolerance: int = 2, step: int = 1
) -> tuple[pd.DataFrame, dict[tuple[str, str], Detection]]:
    """Run every detector on every video (same decoder); per-video rows and the detections."""
    dets = list(detectors)
    rows, found = [], {}
    for video in tqdm(videos, desc="videos", leave=False):
        for det in dets:
            result = run_detector(video.path, det, step=step if det.pixel_format == "gray" else 1)
            found[(video.video_id, det.name)] = result
            rows.append(score_detection(result, video, tolerance))
    return pd.DataFrame(rows), found


def summarize(videos: Sequence[TestVideo], found: dict[tuple[str, str], Detection], tolerance: int) -> pd.DataFrame:
    """Overall scores per detector: counts pooled over videos (micro P/R/F1), MAP = mean AP, frames/s."""
    out = []
    for name in dict.fromkeys(det for _, det in found):
        pooled: dict[str, CutScore] = {}
        aps, frames, dec, sco = [], 0, 0.0, 0.0
        for video in videos:
            det = found[(video.video_id, name)]
            for kind, s in score_by_kind(det.cuts, video.cuts, video.kinds, tolerance, video.windows).items():
                pooled[kind] = pooled.get(kind, CutScore(0, 0, 0)) + s
            if det.threshold is not None and video.cuts:
                aps.append(average_precision(det.scores, video.cuts, tolerance, video.windows, det.frame_index))
            frames, dec, sco = frames + det.n_frames, dec + det.decode_s, sco + det.score_s
        row = {"detector": name, **pooled.pop("all").as_dict(), "map": float(np.mean(aps)) if aps else math.nan}
        for kind, s in sorted(pooled.items()):
            row[f"recall_{kind}"] = s.recall
            row[f"f1_{kind}"] = s.f1
        row["frames_per_s"] = frames / (dec + sco) if dec + sco > 0 else math.inf
        row["score_share"] = sco / (dec + sco) if dec + sco > 0 else math.nan
        out.append(row)
    return pd.DataFrame(out)


def k_sensitivity(
    videos: Sequence[TestVideo], found: dict[tuple[str, str], Detection], config: SsimConfig, ks: Sequence[float], tolerance: int, name: str
) -> pd.DataFrame:
    """F1 (all, hard, gradual) against k, re-deciding from the stored SSDev scores (no re-decode).

    Each row is computed twice: with the absolute floor ``min_ssdev`` and without it (the
    paper's rule alone), so the table shows what the floor changes.
    """
    rows = []
    for floor in (config.min_ssdev, 0.0):
        for k in ks:
            pooled: dict[str, CutScore] = {}
            for video in videos:
                det = found[(video.video_id, name)]
                step = int(det.frame_index[1] - det.frame_index[0]) if len(det.frame_index) > 1 else 1
                pos, _ = select_cuts(det.scores, k=k, min_ssdev=floor, min_scene_len=max(1, math.ceil(config.min_scene_len / step)))
                cuts = [int(det.frame_index[p]) for p in pos]
                for kind, s in score_by_kind(cuts, video.cuts, video.kinds, tolerance, video.windows).items():
                    pooled[kind] = pooled.get(kind, CutScore(0, 0, 0)) + s
            gradual = pooled.get("fade", CutScore(0, 0, 0)) + pooled.get("dissolve", CutScore(0, 0, 0))
            rows.append({
                "k": k, "min_ssdev": floor, "f1": pooled["all"].f1, "precision": pooled["all"].precision,
                "recall": pooled["all"].recall, "recall_hard": pooled["hard"].recall if "hard" in pooled else math.nan,
                "recall_gradual": gradual.recall if gradual.tp + gradual.fn else math.nan,
            })
    return pd.DataFrame(rows)


def ssdev_separation(videos: Sequence[TestVideo], found: dict[tuple[str, str], Detection], name: str, tolerance: int) -> pd.DataFrame:
    """SSDev at true hard cuts (the peak within tolerance) against SSDev inside shots.

    Inside shots means farther than ``tolerance`` from every transition window. The gap between
    the highest in-shot value and the lowest hard-cut value is where an absolute floor can sit.
    """
    rows = []
    for video in videos:
        det = found[(video.video_id, name)]
        idx, s = np.asarray(det.frame_index), np.asarray(det.scores)
        inside = np.ones(len(s), dtype=bool)
        inside[0] = False
        peaks = []
        for cut, kind, (lo, hi) in zip(video.cuts, video.kinds, video.windows):
            near = (idx >= lo - tolerance) & (idx <= hi + tolerance)
            inside &= ~near
            if kind == "hard" and near.any():
                peaks.append(float(s[near].max()))
        rows.append({
            "video": video.video_id,
            "in_shot_p99": float(np.percentile(s[inside], 99)) if inside.any() else math.nan,
            "in_shot_max": float(s[inside].max()) if inside.any() else math.nan,
            "hard_cut_min": min(peaks) if peaks else math.nan,
            "hard_cut_median": float(np.median(peaks)) if peaks else math.nan,
        })
    return pd.DataFrame(rows)


def decode_floor(videos: Sequence[TestVideo], detector: CutDetector) -> dict[str, float]:
    """Frames per second of the decode ``detector`` asks for, summed over the videos (no scoring)."""
    frames, secs = 0, 0.0
    for video in videos:
        n, dt = decode_only(video.path, detector)
        frames, secs = frames + n, secs + dt
    return {"frames": frames, "seconds": secs, "frames_per_s": frames / secs if secs > 0 else math.inf}


def write_scenes_json(path: str | os.PathLike[str], videos: Sequence[TestVideo], found: dict[tuple[str, str], Detection], name: str) -> Path:
    """Write ``scenes.json`` (docs/ARCHITECTURE.md): each video's cuts, size, threshold and scenes."""
    missing = [v.video_id for v in videos if (v.video_id, name) not in found]
    if missing:
        raise DataError(f"no detection by '{name}' for videos {missing}; run the detector on every video first")
    return atomic_write_json(path, {v.video_id: found[(v.video_id, name)].scene_record() for v in videos})
