"""The evaluation step's inputs: the test videos at the working resolution, their scenes, and the references.

The test videos (the data-prep step) are decoded and pre-processed exactly like the frame store; the
scenes the scene-analysis step detected and the ground truth's steady segments (between cuts, transition
frames left out) are mapped onto the kept frames; the reference-selection step's per-scene references are read
from ``references.csv``. See :mod:`scenecolor.evaluate.protocol` for the protocol.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scenecolor.core.color import rgb_to_lab
from scenecolor.core.color8 import rgb8_to_lab
from scenecolor.core.errors import DataError
from scenecolor.core.video import iter_frames
from scenecolor.data.frames import Preprocess, preprocess_frame
from scenecolor.data.test_videos import read_test_videos
from scenecolor.retrieval.references import POOLS, read_references
from scenecolor.scenes.io import load_scenes


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
    display_aspect: float = 1.0  # width / height of the source video (figures show the frames at it)

    def __post_init__(self) -> None:
        if (
            self.frames.dtype != np.uint8
            or self.frames.ndim != 4
            or self.frames.shape[-1] != 3
            or len(self.frames) == 0
        ):
            raise DataError(
                f"test video '{self.video_id}': frames must be uint8 (T,S,S,3) with T > 0, got {self.frames.dtype} "
                f"{self.frames.shape}"
            )
        if not self.scene_ids:
            self.scene_ids = list(range(len(self.scenes)))
        covered = sum(e - s for s, e in self.scenes)
        if covered != len(self.frames) or any(s >= e for s, e in self.scenes):
            raise DataError(
                f"test video '{self.video_id}': scenes {self.scenes} must tile its {len(self.frames)} frames without "
                "gaps"
            )

    @cached_property
    def lab(self) -> np.ndarray:
        """The ground truth in CIE Lab, float32 (T, S, S, 3)."""
        return rgb_to_lab(self.frames)

    @cached_property
    def lab_fast(self) -> np.ndarray:
        """The ground truth in Lab through :func:`scenecolor.core.color8.rgb8_to_lab`, as the temporal measures use."""
        return rgb8_to_lab(self.frames)

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


def steady_segments(
    n_frames: int, cuts: Sequence[int], transitions: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
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


def load_eval_videos(
    data_dir: Path,
    scenes_path: Path,
    prep: Preprocess,
    max_videos: int = 0,
    max_frames: int = 0,
    frame_step: int = 1,
    test_shots_only: bool = True,
) -> list[EvalVideo]:
    """Decode the data-prep step's test videos, pre-process them like the frame store, attach scenes.

    Args:
        data_dir: artifact folder of 00_data_prep (holds ``test_videos.json``).
        scenes_path: the scene-analysis step's ``scenes.json``.
        prep: the frame store's pre-processing (size, mean filter, resize mode).
        max_videos, max_frames: 0 = all; otherwise the first videos / first kept frames.
        frame_step: keep one frame in ``frame_step``.
        test_shots_only: drop frames showing a shot of the train or val split (see
            :func:`frames_of_test_shots`); a video left with no frame is skipped.
    """
    entries = read_test_videos(data_dir)
    scenes = load_scenes(scenes_path)
    if frame_step < 1 or max_frames < 0 or max_videos < 0:
        raise DataError(
            f"frame_step must be >= 1 and max_frames, max_videos >= 0; got {frame_step}, {max_frames}, {max_videos}"
        )
    out: list[EvalVideo] = []
    skipped: list[str] = []
    for entry in tqdm(entries, desc="decode test videos", leave=False):
        if max_videos and len(out) == max_videos:
            break
        vid = str(entry["video_id"])
        if vid not in scenes:
            raise DataError(
                f"scenes.json '{scenes_path}' has no entry for test video '{vid}'; re-run the scene-analysis step"
            )
        n_total = int(entry["n_frames"])
        kept = np.arange(0, n_total, frame_step)
        if test_shots_only:
            kept = kept[frames_of_test_shots(entry)[kept]]
        if max_frames:
            kept = kept[:max_frames]
        if kept.size == 0:
            skipped.append(vid)
            continue
        wanted, frames, aspect = set(kept.tolist()), [], 1.0
        for i, frame in enumerate(iter_frames(Path(data_dir) / entry["path"])):
            aspect = frame.shape[1] / frame.shape[0]
            if i in wanted:
                frames.append(preprocess_frame(frame, prep))
            if i >= kept[-1]:
                break
        if len(frames) != len(kept):
            raise DataError(
                f"test video '{vid}' decodes to fewer frames than test_videos.json lists ({n_total}); re-run the "
                "data-prep step"
            )
        detected = [(int(s["start"]), int(s["end"])) for s in scenes[vid]["scenes"]]
        scene_ranges, scene_ids = [], []
        for i, (s, e) in enumerate(detected):
            mapped = _ranges_to_kept([(s, e)], kept)
            if mapped:
                scene_ranges.append(mapped[0])
                scene_ids.append(i)
        transitions = [(int(t["start"]), int(t["end"])) for t in entry.get("transitions", [])]
        steady = _ranges_to_kept(steady_segments(n_total, entry["cuts"], transitions), kept)
        out.append(
            EvalVideo(
                vid, np.stack(frames), float(entry["fps"]), scene_ranges, steady, kept, scene_ids, display_aspect=aspect
            )
        )
    if not out:
        raise DataError(
            f"'{data_dir}' lists no test video with test-split frames (skipped: {skipped}); "
            "the data-prep step needs n_test_videos >= 1"
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
    """The reference-selection step's ``references.csv`` (scene queries of one retriever): ranked frame-store ids
    per pool and scene."""

    table: pd.DataFrame
    retriever: str = "embedder"

    @classmethod
    def read(cls, path: str | os.PathLike[str], retriever: str = "embedder") -> ReferenceTable:
        """The scene rows of ``retriever`` (``embedder``, or ``hog``: the tuned HOG on L) in ``references.csv``."""
        df = read_references(path, retriever)
        return cls(df[df["query_kind"] == "scene"].sort_values("rank", kind="stable").reset_index(drop=True), retriever)

    def pools(self) -> list[str]:
        return [p for p in POOLS if p in set(self.table["pool"])]

    def ids(self, pool: str, video_id: str, scene: int, n_refs: int) -> np.ndarray:
        """The top ``n_refs`` reference frame ids of one scene, best first."""
        t = self.table
        rows = t[(t["pool"] == pool) & (t["video_id"] == video_id) & (t["scene"] == scene)]
        if rows.empty:
            raise DataError(
                f"references.csv has no '{pool}' references for scene {scene} of '{video_id}' (retriever "
                f"'{self.retriever}'); re-run the reference-selection step"
            )
        if len(rows) < n_refs:
            raise DataError(
                f"scene {scene} of '{video_id}' has {len(rows)} '{pool}' references, {n_refs} asked; raise top-k in "
                "the reference-selection step"
            )
        return rows["ref_frame_id"].to_numpy()[:n_refs].astype(np.int64)
