"""Colorize a whole grayscale (or colour) video with the artifacts of a workbook run.

``scenecolor colorize VIDEO --out OUT.mp4`` uses :func:`colorize_video_file` (through
``scenecolor.workbook.runs.colorize_with_run``, which finds a run's backend, references and settings):

1. detect the scenes with the run's cut detector settings (:mod:`scenecolor.scenes.ssim_detector`);
2. for each scene, retrieve its top-R references from the run's reference pool or a user's gallery
   with the run's embedder (:mod:`scenecolor.colorize.refs`), a few grey frames of the scene being
   the query;
3. stream the frames: each frame's own full-resolution L is kept; L resized to the working
   resolution is colorized clip by clip (the scene's reference features are encoded once and
   reused); ab is upsampled to the input size and merged with the full-resolution L;
4. write an mp4 of the same frame count, size and fps; it replaces an existing file only once
   complete (:class:`scenecolor.core.video.VideoWriter` is atomic).

Memory holds one clip of frames, one key frame per scene and the references, however long the
video. The network runs behind :class:`scenecolor.colorize.backend.ColorizerBackend`.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from scenecolor.colorize.backend import ColorizerBackend
from scenecolor.colorize.refs import ReferenceFinder, scene_query_frames
from scenecolor.core.color import L_MAX, merge_l_ab, rgb_to_lab
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.core.video import VideoWriter, iter_frames, probe
from scenecolor.data.frames import Preprocess, preprocess_frame
from scenecolor.scenes.ssim_detector import SsimConfig, detect_cuts


def to_working_gray(frame: np.ndarray, prep: Preprocess, resolution: int) -> np.ndarray:
    """An RGB uint8 frame -> the network's input: stored like the frame store, resized, L/100."""
    stored = preprocess_frame(frame, prep)
    small = (
        cv2.resize(stored, (resolution, resolution), interpolation=cv2.INTER_AREA)
        if stored.shape[0] != resolution
        else stored
    )
    return rgb_to_lab(small)[..., 0] / L_MAX


def merge_full_resolution(frame: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
    """The input frame's own full-resolution L + ab upsampled to its size -> RGB uint8."""
    h, w = frame.shape[:2]
    lightness = rgb_to_lab(frame)[..., 0]
    ab = cv2.resize(ab_small, (w, h), interpolation=cv2.INTER_LINEAR)
    with warnings.catch_warnings():  # out-of-gamut colours are clipped, as the docstring of merge_l_ab says
        warnings.simplefilter("ignore", UserWarning)
        rgb = merge_l_ab(lightness, ab)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


@dataclass
class ColorizeSummary:
    """What :func:`colorize_video_file` did."""

    video: str
    out: str
    backend: str
    n_frames: int
    width: int
    height: int
    fps: float
    scenes: list[dict[str, Any]] = field(default_factory=list)  # start, end, keyframe, ref_frame_ids, references
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _keyframes(video: Path, wanted: dict[int, int], prep: Preprocess) -> dict[int, list[np.ndarray]]:
    """Decode the query frames (frame index -> scene) pre-processed like the frame store, per scene."""
    found: dict[int, list[np.ndarray]] = {}
    left = len(wanted)
    for n, frame in enumerate(iter_frames(video)):
        if n in wanted:
            found.setdefault(wanted[n], []).append(preprocess_frame(frame, prep))
            left -= 1
            if left == 0:
                break
    return found


def colorize_video_file(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model: ColorizerBackend,
    finder: ReferenceFinder,
    prep: Preprocess,
    cut_config: SsimConfig,
    references: int = 5,
    backend: str = "torch",
    clip_len: int | None = None,
    progress: bool = True,
) -> ColorizeSummary:
    """Colorize ``video`` into ``out`` (mp4) with ``model``, references from ``finder``.

    ``prep`` is the frame store's pre-processing (key frames must look like the pool's frames);
    ``cut_config`` the scene detector's settings; ``backend`` only names the runtime in the summary.
    Raises the VideoError subclasses (missing, corrupt, empty video) and ParameterError, each
    naming the fix; ``out`` is left untouched unless the new video is complete.
    """
    t0 = time.perf_counter()
    src, dst = Path(video), Path(out)
    info = probe(src)  # VideoNotFoundError / CorruptVideoError / EmptyVideoError name the file
    if info.width % 2 or info.height % 2:
        raise DataError(
            f"video '{src}' is {info.width}x{info.height}; H.264 output needs even sides: crop or scale it by one "
            "pixel "
            ""
            ""
            ""
            "first"
        )
    if src.resolve() == dst.resolve():
        raise ParameterError(f"--out '{dst}' is the input video itself; choose another output path")
    if not 1 <= references <= model.max_refs:
        raise ParameterError(f"--references must be in 1..{model.max_refs}, got {references}")
    clip_len = clip_len or model.clip_len
    detection = detect_cuts(src, cut_config)
    scenes = detection.scenes()
    # -- references: several grey query frames per scene, scores aggregated (colorize.refs) --
    wanted = {f: i for i, s in enumerate(scenes) for f in scene_query_frames(s)}
    keyframes = _keyframes(src, wanted, prep)
    found = finder.find_scenes([keyframes[i] for i in range(len(scenes))], references)
    ref_ids = [f.ids for f in found]
    chosen = [f.references for f in found]
    summary = ColorizeSummary(str(src), str(dst), backend, 0, info.width, info.height, info.fps)
    bar = tqdm(total=detection.n_frames, desc=f"colorize {src.name}", unit="frame", disable=not progress)
    scene_of = iter(zip(scenes, ref_ids, chosen))
    scene, ids, refs = next(scene_of)
    feats = model.encode_references(finder.reference_lab(ids, model.resolution))
    frames: list[np.ndarray] = []

    def flush(writer: VideoWriter) -> None:
        ab = model.predict_ab(
            np.stack([to_working_gray(f, prep, model.resolution) for f in frames]).astype(np.float32), feats
        )
        for frame, ab_small in zip(frames, ab):
            writer.write(merge_full_resolution(frame, ab_small))
        bar.update(len(frames))
        frames.clear()

    with bar, VideoWriter(dst, info.fps, info.width, info.height) as writer:
        for n, frame in enumerate(iter_frames(src)):
            if n >= scene["end"]:
                if frames:
                    flush(writer)
                summary.scenes.append({**scene, "ref_frame_ids": [int(i) for i in ids], "references": refs})
                scene, ids, refs = next(scene_of, (None, None, None))
                if scene is None:
                    raise DataError(
                        f"video '{src}' decodes more frames than its scene detection saw ({n} > {detection.n_frames}); "
                        "re-encode it"
                    )
                feats = model.encode_references(finder.reference_lab(ids, model.resolution))
            frames.append(frame)
            if len(frames) == clip_len:
                flush(writer)
        if frames:
            flush(writer)
        summary.scenes.append({**scene, "ref_frame_ids": [int(i) for i in ids], "references": refs})
        summary.n_frames = writer.n_frames
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary
