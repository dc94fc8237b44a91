"""Build the embedded default data set (notebook 00) from a manifest of real media.

What :func:`build_embedded_dataset` writes into a step's artifact folder (docs/ARCHITECTURE.md):

- ``frames/``: the frame store (:mod:`scenecolor.data.frames`), one frame in ``frame_step`` of every shot;
- ``shots.csv``: one row per shot (id, video, source, split, size, fps, clip, licence, ...);
- ``clips/<shot_id>.mp4``: every shot at its full frame rate;
- ``test_videos/*.mp4`` + ``test_videos.json``: multi-scene videos with exact cut frames
  (:mod:`scenecolor.data.montage`), plus the real multi-shot clips with their hand-checked cuts.

Which shots exist and which split each source joins is decided first, without decoding
(:mod:`scenecolor.data.plan`); photographs become clips with synthetic camera motion
(:mod:`scenecolor.data.camera_motion`). All sha256 are verified before anything is written;
everything is built in a staging folder and moved into place at the end, so a failed build
leaves an earlier data set untouched.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scenecolor.core import video
from scenecolor.core.artifacts import atomic_path, sha256_file, temp_dir
from scenecolor.core.errors import DataError
from scenecolor.data import camera_motion, montage
from scenecolor.data.frames import FrameStoreBuilder, Preprocess, preprocess_frame, swap_folder
from scenecolor.data.manifests.format import Manifest, verify, verify_or_raise
from scenecolor.data.plan import (
    BuildConfig,
    ShotPlan,
    assign_splits,
    clip_size,
    plan_shots,
    resolve_manifest,
    seeded_rng,
)
from scenecolor.data.test_videos import read_test_videos, write_test_videos

TEST_FPS = 25.0
PRODUCTS = ("frames", "clips", "test_videos", "shots.csv", "test_videos.json")


@dataclass
class DatasetSummary:
    """What was built, for the notebook's tables and metrics."""

    out_dir: Path
    shots: pd.DataFrame
    index: pd.DataFrame
    test_videos: list[dict[str, Any]]
    wall_time_s: float
    config: dict[str, Any] = field(default_factory=dict)

    def split_table(self) -> pd.DataFrame:
        """Frames and shots per split, real and synthetic-motion separately."""
        idx = self.index.assign(motion=np.where(self.index["synthetic_motion"], "synthetic", "real"))
        frames = idx.pivot_table(index="split", columns="motion", values="frame_id", aggfunc="count", fill_value=0)
        shots = self.shots.assign(motion=np.where(self.shots["synthetic_motion"], "synthetic", "real"))
        shot_counts = shots.pivot_table(
            index="split", columns="motion", values="shot_id", aggfunc="count", fill_value=0
        )
        table = pd.DataFrame(index=pd.Index(["train", "val", "test"], name="split"))
        for motion in ("real", "synthetic"):
            table[f"frames_{motion}"] = (
                frames.get(motion, pd.Series(dtype=int)).reindex(table.index).fillna(0).astype(int)
            )
            table[f"shots_{motion}"] = (
                shot_counts.get(motion, pd.Series(dtype=int)).reindex(table.index).fillna(0).astype(int)
            )
        table["frames"] = table["frames_real"] + table["frames_synthetic"]
        table["sources"] = self.shots.groupby("split")["group"].nunique().reindex(table.index).fillna(0).astype(int)
        return table

    def test_video_table(self) -> pd.DataFrame:
        """One row per test video: frames, cuts, and how many of each transition kind."""
        rows = []
        for v in self.test_videos:
            kinds = [t["kind"] for t in v["transitions"]]
            rows.append(
                {
                    "video_id": v["video_id"],
                    "n_frames": v["n_frames"],
                    "cuts": len(v["cuts"]),
                    "hard": kinds.count("hard"),
                    "fade": kinds.count("fade"),
                    "dissolve": kinds.count("dissolve"),
                    "real_source": v.get("real", False),
                }
            )
        return pd.DataFrame(rows)


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop ``frame`` to the aspect of (width, height), then resize to it."""
    h, w = frame.shape[:2]
    target = width / height
    if w / h > target:
        new_w = max(1, int(round(h * target)))
        left = (w - new_w) // 2
        frame = frame[:, left : left + new_w]
    else:
        new_h = max(1, int(round(w / target)))
        top = (h - new_h) // 2
        frame = frame[top : top + new_h]
    interp = cv2.INTER_AREA if frame.shape[1] >= width else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=interp)


def load_photo(path: Path) -> np.ndarray:
    """A photograph as RGB uint8 (alpha dropped, grey repeated)."""
    import skimage.io

    try:
        img = skimage.io.imread(path)
    except Exception as exc:  # imageio raises many types
        raise DataError(
            f"photograph '{path}' cannot be read ({exc.__class__.__name__}: {exc}); re-copy the file"
        ) from exc
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise DataError(f"photograph '{path}' has shape {img.shape}; expected an RGB image")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        scale = float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 1.0
        img = (np.clip(img.astype(np.float64) / scale, 0, 1) * 255).round().astype(np.uint8)
    return np.ascontiguousarray(img)


# --------------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------------


def _shot_frames(
    plan: ShotPlan, path: Path, size: tuple[int, int], decoded: Iterator[tuple[int, np.ndarray]] | None
) -> Iterator[np.ndarray]:
    if plan.kind == "photo":
        photo = load_photo(path)
        assert plan.camera_path is not None
        yield from camera_motion.render_clip(photo, plan.camera_path, plan.n_frames, *size)
        return
    assert decoded is not None
    for idx, frame in decoded:
        if idx < plan.start:
            continue
        yield frame
        if idx + 1 >= plan.end:
            return
    raise DataError(
        f"'{path}' ended before frame {plan.end} of shot '{plan.shot_id}'; the file is shorter than its cut list says"
    )


def _build_shots(plans: list[ShotPlan], manifest: Manifest, config: BuildConfig, staging: Path) -> list[dict[str, Any]]:
    """Write clips/<shot>.mp4 and the frame store; return the rows of shots.csv."""
    prep = Preprocess(size=config.size, mean_filter=config.mean_filter, resize_mode=config.resize_mode)  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    decoders: dict[str, Iterator[tuple[int, np.ndarray]]] = {}
    streams: list[Any] = []  # the open decoders, closed at the end
    try:
        _write_shots(plans, manifest, config, staging, prep, rows, decoders, streams)
    finally:
        for stream in streams:
            stream.close()
    return rows


def _write_shots(
    plans: list[ShotPlan],
    manifest: Manifest,
    config: BuildConfig,
    staging: Path,
    prep: Preprocess,
    rows: list[dict[str, Any]],
    decoders: dict[str, Iterator[tuple[int, np.ndarray]]],
    streams: list[Any],
) -> None:
    with FrameStoreBuilder(staging / "frames", config.size, prep) as store:
        for plan in tqdm(plans, desc="shots", leave=False):
            path = manifest.resolve(plan.entry)
            if plan.kind == "photo":
                size = config.render_size
                decoded = None
            else:
                info = video.probe(path)
                size = clip_size(info.width, info.height, config.clip_max_side)
                if plan.video_id not in decoders:  # one streaming decoder per real video
                    streams.append(video.iter_frames(path, size=size))
                    decoders[plan.video_id] = enumerate(streams[-1])
                decoded = decoders[plan.video_id]
            clip_rel = f"clips/{plan.shot_id}.mp4"
            n_stored = 0
            with video.VideoWriter(staging / clip_rel, plan.fps, *size) as writer:
                for k, frame in enumerate(_shot_frames(plan, path, size, decoded)):
                    writer.write(frame)
                    if k % config.frame_step == 0:
                        store.add(
                            preprocess_frame(frame, prep),
                            video_id=plan.video_id,
                            shot_id=plan.shot_id,
                            split=plan.split,
                            source_frame=plan.start + k,
                            source=plan.entry.id,
                            synthetic_motion=plan.kind == "photo",
                        )
                        n_stored += 1
            rows.append(
                {
                    "shot_id": plan.shot_id,
                    "video_id": plan.video_id,
                    "source": plan.entry.id,
                    "split": plan.split,
                    "n_frames": writer.n_frames,
                    "fps": round(plan.fps, 4),
                    "width": size[0],
                    "height": size[1],
                    "clip": clip_rel,
                    "synthetic_motion": plan.kind == "photo",
                    "licence": " ".join(plan.entry.licence.split()),
                    "group": plan.group,
                    "kind": plan.kind,
                    "source_start": plan.start,
                    "source_end": plan.end,
                    "n_store_frames": n_stored,
                    "camera_path": json.dumps(plan.camera_path.as_dict()) if plan.camera_path else "",
                }
            )


def _read_segment(clip: Path, start: int, length: int, size: tuple[int, int]) -> np.ndarray:
    frames = list(itertools.islice(video.iter_frames(clip), start, start + length))
    if len(frames) < length:
        raise DataError(f"clip '{clip}' has fewer than {start + length} frames")
    return np.stack([fit_frame(f, *size) for f in frames])


def _pick_sequence(shots: pd.DataFrame, n: int, rng: np.random.Generator) -> list[pd.Series]:
    """``n`` shots, neighbours always from different sources, sources repeated only when needed."""
    groups = sorted(shots["group"].unique())
    chosen: list[pd.Series] = []
    used: set[str] = set()
    for _ in range(n):
        prev = chosen[-1]["group"] if chosen else None
        fresh = [g for g in groups if g not in used and g != prev] or [g for g in groups if g != prev]
        group = fresh[int(rng.integers(len(fresh)))]
        used.add(group)
        candidates = shots[shots["group"] == group]
        chosen.append(candidates.iloc[int(rng.integers(len(candidates)))])
    return chosen


def _build_test_videos(
    shots: pd.DataFrame, manifest: Manifest, config: BuildConfig, staging: Path
) -> list[dict[str, Any]]:
    """Assemble the multi-scene test videos and list the real multi-shot clips; returns their records."""
    out_dir = staging / "test_videos"
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    split_of = dict(zip(shots["shot_id"], shots["split"]))
    # the real multi-shot videos, with their hand-checked cuts
    for entry in manifest.entries:
        if entry.kind != "video" or len(entry.shots) < 2:
            continue
        src = manifest.resolve(entry)
        rel = f"test_videos/{entry.id}{src.suffix}"
        with atomic_path(staging / rel) as tmp:
            shutil.copyfile(src, tmp)
        info = video.probe(src)
        ordered = sorted(entry.shots, key=lambda s: s.start)
        cuts = [s.start for s in ordered[1:]]
        records.append(
            {
                "video_id": entry.id,
                "path": rel,
                "n_frames": ordered[-1].end,
                "fps": info.fps,
                "real": True,
                "cuts": cuts,
                "transitions": [montage.Transition("hard", c, c, c).as_dict() for c in cuts],
                "shots": [
                    {
                        "shot_id": s.shot_id,
                        "start": s.start,
                        "end": s.end,
                        "source_start": s.start,
                        "split": split_of.get(s.shot_id, ""),
                        "source": entry.id,
                        "synthetic_motion": False,
                    }
                    for s in ordered
                ],
            }
        )
    if config.n_test_videos == 0:
        return records
    pool = shots[(shots["split"] == "test") & (shots["n_frames"] >= config.min_segment)]
    if pool["group"].nunique() < 2:
        raise DataError(
            f"the test split has {pool['group'].nunique()} source(s) with shots of >= {config.min_segment} frames; "
            "test videos need two or more: raise test_fraction or clip_frames, or lower segment_frames"
        )
    n_boundaries = config.n_test_videos * (config.shots_per_test_video - 1)
    kinds = montage.plan_kinds(n_boundaries, config.gradual_fraction, seeded_rng(config.seed, "transitions"))
    size = config.render_size
    for v in tqdm(range(config.n_test_videos), desc="test videos", leave=False):
        rng = seeded_rng(config.seed, "test_video", v)
        segments = []
        for shot in _pick_sequence(pool, config.shots_per_test_video, rng):
            length = int(min(shot["n_frames"], rng.integers(config.min_segment, config.segment_frames + 1)))
            start = int(rng.integers(0, shot["n_frames"] - length + 1))
            frames = _read_segment(staging / shot["clip"], start, length, size)
            segments.append(
                montage.Segment(
                    shot["shot_id"],
                    frames,
                    start,
                    {
                        "split": shot["split"],
                        "source": shot["source"],
                        "synthetic_motion": bool(shot["synthetic_motion"]),
                    },
                )
            )
        my_kinds = kinds[v * (config.shots_per_test_video - 1) : (v + 1) * (config.shots_per_test_video - 1)]
        frames, transitions, shot_rows = montage.assemble(segments, my_kinds, config.transition_frames)
        video_id = f"montage_{v:02d}"
        rel = f"test_videos/{video_id}.mp4"
        video.write_video(staging / rel, frames, TEST_FPS)
        records.append(
            {
                "video_id": video_id,
                "path": rel,
                "n_frames": int(len(frames)),
                "fps": TEST_FPS,
                "real": False,
                "cuts": [t.cut for t in transitions],
                "transitions": [t.as_dict() for t in transitions],
                "shots": shot_rows,
            }
        )
    return records


def _install(staging: Path, out_dir: Path) -> None:
    """Move every product from the staging folder into ``out_dir`` (folders swapped whole)."""
    for name in PRODUCTS:
        src = staging / name
        if not src.exists():
            continue
        dst = out_dir / name
        if src.is_dir():
            swap_folder(src, dst)
        else:
            os.replace(src, dst)


def build_embedded_dataset(
    out_dir: str | os.PathLike[str], config: BuildConfig | None = None, **overrides: Any
) -> DatasetSummary:
    """Build the data set described by ``config.manifest`` into ``out_dir`` (notebook 00's artifact folder).

    Keyword ``overrides`` replace fields of ``config`` (``frame_step=5``...). Returns a
    :class:`DatasetSummary`.

    Raises:
        ChecksumMismatchError: a source file's sha256 differs from the manifest's (nothing written).
        ManifestError: the manifest or one of its files is missing or malformed (nothing written).
        DataError, VideoError: a source cannot be decoded or the parameters leave a split empty
            (the earlier data set in ``out_dir`` is left as it was).
    """
    started = time.time()
    config = BuildConfig(**{**asdict(config or BuildConfig()), **overrides})
    out = Path(out_dir)
    manifest = Manifest.load(resolve_manifest(config.manifest))
    verify_or_raise(manifest)
    plans = plan_shots(manifest, config)
    splits = assign_splits(plans, config)
    for plan in plans:
        plan.split = splits[plan.group]
    out.mkdir(parents=True, exist_ok=True)
    staging = temp_dir(out, prefix=".build-tmp-", suffix="")
    try:
        rows = _build_shots(plans, manifest, config, staging)
        shots = pd.DataFrame(rows)
        with atomic_path(staging / "shots.csv") as tmp:
            shots.to_csv(tmp, index=False)
        records = _build_test_videos(shots, manifest, config, staging)
        write_test_videos(staging, records, montage.GROUND_TRUTH_CONVENTION)
        _install(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    index = pd.read_csv(out / "frames" / "index.csv")
    return DatasetSummary(out, shots, index, records, round(time.time() - started, 2), asdict(config))


# --------------------------------------------------------------------------------------------
# checks a student (and a test) can run on the result
# --------------------------------------------------------------------------------------------


def describe_manifest(name_or_path: str = "embedded") -> pd.DataFrame:
    """The manifest's entries with their verification status (sha256 ok / missing / mismatch)."""
    manifest = Manifest.load(resolve_manifest(name_or_path))
    status = {r.entry_id: r.status for r in verify(manifest)}
    return pd.DataFrame(
        [
            {
                "id": e.id,
                "kind": e.kind,
                "shots": len(e.shots) or None,
                "synthetic_motion": e.synthetic_motion,
                "sha256": (e.sha256 or "")[:12],
                "verified": status[e.id],
                "source": e.source,
                "licence": " ".join(e.licence.split()),
            }
            for e in manifest.entries
        ]
    )


def manifest_checksums(name_or_path: str = "embedded") -> dict[str, str]:
    """``{"manifest:<file>": sha256 of the manifest, <entry id>: sha256 of its file}`` after verifying them."""
    path = resolve_manifest(name_or_path)
    manifest = Manifest.load(path)
    verify_or_raise(manifest)
    checksums = {f"manifest:{Path(path).name}": sha256_file(path)}
    checksums.update({e.id: str(e.sha256) for e in manifest.entries})
    return checksums


def leakage_report(out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Checks that no content crosses splits and every frame is labelled; one row per check.

    - each source (a real shot, or a photograph with all its clips) lies in one split;
    - each shot's stored frames all carry the shot's split, video id and shot id;
    - the segments of the assembled test videos come only from test-split shots.
    """
    out = Path(out_dir)
    shots = pd.read_csv(out / "shots.csv", dtype={"shot_id": str, "group": str, "split": str})
    index = pd.read_csv(out / "frames" / "index.csv", dtype={"shot_id": str, "video_id": str, "split": str})
    videos = read_test_videos(out)
    per_group = shots.groupby("group")["split"].nunique()
    merged = index.merge(shots[["shot_id", "split", "video_id"]], on="shot_id", how="left", suffixes=("", "_shot"))
    mislabelled = int(
        ((merged["split"] != merged["split_shot"]) | (merged["video_id"] != merged["video_id_shot"])).sum()
    )
    unlabelled = int(index[["video_id", "shot_id", "split"]].isna().any(axis=1).sum())
    montage_shots = [s for v in videos if not v.get("real") for s in v["shots"]]
    outside_test = sum(1 for s in montage_shots if s["split"] != "test")
    rows = [
        {"check": "sources in more than one split", "value": int((per_group > 1).sum()), "expected": 0},
        {"check": "stored frames whose split/video differs from their shot's", "value": mislabelled, "expected": 0},
        {"check": "stored frames without video_id, shot_id or split", "value": unlabelled, "expected": 0},
        {"check": "test-video segments from non-test shots", "value": outside_test, "expected": 0},
    ]
    table = pd.DataFrame(rows)
    table["ok"] = table["value"] == table["expected"]
    return table
