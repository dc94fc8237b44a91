"""Colorize a whole grayscale (or colour) video with the artifacts of a workbook run.

``scenecolor colorize VIDEO --out OUT.mp4`` and notebook 05 use :func:`colorize_video_file`:

1. detect the scenes with the run's cut detector settings (:mod:`scenecolor.scenes`);
2. for each scene, retrieve its top-R references from the run's reference pool with the run's
   embedder (:mod:`scenecolor.retrieval`), the scene's middle frame being the query;
3. stream the frames: each frame's own full-resolution L is kept; L resized to the working
   resolution is colorized clip by clip (the scene's reference features are encoded once and
   reused); ab is upsampled to the input size and merged with the full-resolution L;
4. write an mp4 of the same frame count, size and fps; it replaces an existing file only once
   complete (:class:`scenecolor.video.VideoWriter` is atomic).

Memory holds one clip of frames, one key frame per scene and the references, however long the
video. The network runs behind :class:`ColorizerBackend`, which both the torch model
(:class:`TorchColorizer`) and the ONNX Runtime export (``scenecolor.export_models.onnx_colorizer``)
implement, so ``--backend onnx`` changes nothing else.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from . import pipeline
from .artifacts import read_json
from .color import L_MAX, merge_l_ab, rgb_to_lab
from .colorize_refs import ReferenceFinder
from .colorizer import SceneColorizer, load_colorizer, prepare_for_inference
from .errors import DataError, MissingUpstreamError, ParameterError
from .frames import Preprocess, preprocess_frame
from .scenes import SsimConfig, detect_cuts
from .video import VideoWriter, iter_frames, probe

COLORIZER_STEP = "04_colorizer_training"
COLORIZER_FILE = "colorizer.pt"


# -- the backend interface -------------------------------------------------------------------
@runtime_checkable
class ColorizerBackend(Protocol):
    """What the video loop needs from a colorizer, in NumPy (torch and ONNX Runtime alike).

    Attributes:
        resolution: working side S; frames and references are resized to S x S.
        max_refs: most references per scene it accepts (R in 1..max_refs).
        clip_len: frames per clip it was trained with (clips of other lengths work too).
    """

    resolution: int
    max_refs: int
    clip_len: int

    def encode_references(self, refs_lab: np.ndarray) -> tuple[np.ndarray, ...]:
        """float32 (R, S, S, 3) CIE Lab references (L 0..100) -> opaque features (once per scene)."""
        ...

    def predict_ab(self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...]) -> np.ndarray:
        """float32 (T, S, S) grey clip as L/100 in [0, 1] + features -> float32 (T, S, S, 2) ab."""
        ...


def check_backend_inputs(refs_lab: np.ndarray | None, gray_clip: np.ndarray | None, resolution: int, max_refs: int) -> None:
    """Raise DataError naming the array when a backend input has the wrong shape."""
    s = resolution
    if refs_lab is not None and (refs_lab.ndim != 4 or refs_lab.shape[1:] != (s, s, 3) or not 1 <= refs_lab.shape[0] <= max_refs):
        raise DataError(f"references must be float32 (R, {s}, {s}, 3) Lab with 1 <= R <= {max_refs}, got {refs_lab.shape}")
    if gray_clip is not None and (gray_clip.ndim != 3 or gray_clip.shape[1:] != (s, s) or gray_clip.shape[0] < 1):
        raise DataError(f"grey clip must be float32 (T, {s}, {s}) with T >= 1 (L/100), got {gray_clip.shape}")


class TorchColorizer:
    """The PyTorch model behind :class:`ColorizerBackend` (BN folded, channels-last, no gradients)."""

    def __init__(self, model: SceneColorizer, clip_len: int = 8) -> None:
        self.model = prepare_for_inference(model)
        self.resolution = model.cfg.resolution
        self.max_refs = model.cfg.max_refs
        self.clip_len = clip_len

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str]) -> "TorchColorizer":
        """Load ``colorizer.pt`` (CheckpointError if missing, corrupt or of another network)."""
        model, ckpt = load_colorizer(path)
        clip_len = int(((ckpt.get("config") or {}).get("train") or {}).get("clip_len", 8))
        return cls(model, clip_len=max(clip_len, 2))

    def encode_references(self, refs_lab: np.ndarray) -> tuple[np.ndarray, ...]:
        check_backend_inputs(refs_lab, None, self.resolution, self.max_refs)
        refs = torch.from_numpy(np.ascontiguousarray(refs_lab, dtype=np.float32)).permute(0, 3, 1, 2)[None]
        with torch.inference_mode():
            feats = self.model.encode_references(refs)
        return feats.keys.numpy(), feats.values.numpy()

    def predict_ab(self, gray_clip: np.ndarray, ref_features: tuple[np.ndarray, ...]) -> np.ndarray:
        check_backend_inputs(None, gray_clip, self.resolution, self.max_refs)
        from .colorizer import ReferenceFeatures

        gray = torch.from_numpy(np.ascontiguousarray(gray_clip, dtype=np.float32))[None, None]
        feats = ReferenceFeatures(*(torch.from_numpy(f) for f in ref_features))
        with torch.inference_mode():
            ab = self.model.colorize(gray, feats)  # [1, 2, T, S, S]
        return ab[0].permute(1, 2, 3, 0).contiguous().numpy()


def open_backend(run_dir: str | os.PathLike[str], backend: str = "torch") -> ColorizerBackend:
    """The run's trained colorizer as a backend: ``torch`` (colorizer.pt) or ``onnx`` (notebook 06's export)."""
    run = Path(run_dir)
    if backend == "torch":
        path = run / "artifacts" / COLORIZER_STEP / COLORIZER_FILE
        if not path.is_file():
            raise MissingUpstreamError(
                f"run '{run}' has no trained colorizer ('{path}' is missing); run notebooks/04_colorizer_training.ipynb "
                "with this run_dir or `scenecolor run --until 04`, or pass another --run"
            )
        return TorchColorizer.from_checkpoint(path)
    if backend == "onnx":
        from .export_models import onnx_colorizer  # notebook 06's export, run by ONNX Runtime

        return onnx_colorizer(run)
    raise ParameterError(f"backend must be 'torch' or 'onnx', got {backend!r}")


def resolve_run_dir(run_dir: str | os.PathLike[str] | None) -> Path:
    """``run_dir`` or ``<repo>/reports/latest``; ScenecolorError naming the fix when it is not there."""
    if run_dir is None:
        root = pipeline.repo_root() or pipeline.repo_root(Path(__file__).parent) or Path.cwd()
        run = root / "reports" / "latest"
    else:
        run = Path(run_dir)
    if not run.is_dir():
        raise MissingUpstreamError(f"run folder '{run}' does not exist; run the workbook first (`scenecolor run`) or pass --run RUN_DIR")
    return run.resolve()


def run_preprocess(run: Path) -> Preprocess:
    """The frame-store pre-processing of the run (notebook 00's size and mean filter)."""
    meta = run / "artifacts" / "00_data_prep" / "meta.json"
    params = read_json(meta).get("params", {}) if meta.is_file() else {}
    return Preprocess(
        size=int(params.get("size", 224)), mean_filter=int(params.get("mean_filter", 3)), resize_mode=params.get("resize_mode", "stretch")
    )


def run_cut_config(run: Path) -> SsimConfig:
    """The cut detector settings of the run's notebook 02 (defaults when it did not run)."""
    meta = run / "artifacts" / "02_scene_analysis" / "meta.json"
    params = read_json(meta).get("params", {}) if meta.is_file() else {}
    names = {f.name for f in fields(SsimConfig)}
    return SsimConfig(**{k: v for k, v in params.items() if k in names})


def to_working_gray(frame: np.ndarray, prep: Preprocess, resolution: int) -> np.ndarray:
    """An RGB uint8 frame -> the network's input: stored like the frame store, resized, L/100."""
    stored = preprocess_frame(frame, prep)
    small = cv2.resize(stored, (resolution, resolution), interpolation=cv2.INTER_AREA) if stored.shape[0] != resolution else stored
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
    scenes: list[dict[str, Any]] = field(default_factory=list)  # start, end, keyframe, ref_frame_ids
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _keyframes(video: Path, wanted: dict[int, int], prep: Preprocess) -> dict[int, np.ndarray]:
    """Decode the key frames (frame index -> scene) pre-processed like the frame store."""
    found: dict[int, np.ndarray] = {}
    for n, frame in enumerate(iter_frames(video)):
        if n in wanted:
            found[wanted[n]] = preprocess_frame(frame, prep)
            if len(found) == len(wanted):
                break
    return found


def colorize_video_file(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    references: int = 5,
    backend: str = "torch",
    clip_len: int | None = None,
    progress: bool = True,
    finder: "ReferenceFinder | None" = None,
) -> ColorizeSummary:
    """Colorize ``video`` into ``out`` (mp4) with the artifacts of ``run_dir`` (default reports/latest).

    Raises MissingUpstreamError (no run / no trained colorizer / no reference pool), the
    VideoError subclasses (missing, corrupt, empty video) and ParameterError, each naming the fix;
    ``out`` is left untouched unless the new video is complete.
    """
    t0 = time.perf_counter()
    src, dst = Path(video), Path(out)
    run = resolve_run_dir(run_dir)
    info = probe(src)  # VideoNotFoundError / CorruptVideoError / EmptyVideoError name the file
    if info.width % 2 or info.height % 2:
        raise DataError(f"video '{src}' is {info.width}x{info.height}; H.264 output needs even sides: crop or scale it by one pixel first")
    if src.resolve() == dst.resolve():
        raise ParameterError(f"--out '{dst}' is the input video itself; choose another output path")
    model = open_backend(run, backend)
    if not 1 <= references <= model.max_refs:
        raise ParameterError(f"--references must be in 1..{model.max_refs}, got {references}")
    clip_len = clip_len or model.clip_len
    prep = run_preprocess(run)
    finder = finder or ReferenceFinder.open(run)
    detection = detect_cuts(src, run_cut_config(run))
    scenes = detection.scenes()
    keyframes = _keyframes(src, {s["keyframe"]: i for i, s in enumerate(scenes)}, prep)
    ref_ids = finder.find([keyframes[i] for i in range(len(scenes))], references)
    summary = ColorizeSummary(str(src), str(dst), backend, 0, info.width, info.height, info.fps)
    bar = tqdm(total=detection.n_frames, desc=f"colorize {src.name}", unit="frame", disable=not progress)
    scene_of = iter(zip(scenes, ref_ids))
    scene, ids = next(scene_of)
    feats = model.encode_references(finder.reference_lab(ids, model.resolution))
    frames: list[np.ndarray] = []

    def flush(writer: VideoWriter) -> None:
        ab = model.predict_ab(np.stack([to_working_gray(f, prep, model.resolution) for f in frames]).astype(np.float32), feats)
        for frame, ab_small in zip(frames, ab):
            writer.write(merge_full_resolution(frame, ab_small))
        bar.update(len(frames))
        frames.clear()

    with bar, VideoWriter(dst, info.fps, info.width, info.height) as writer:
        for n, frame in enumerate(iter_frames(src)):
            if n >= scene["end"]:
                if frames:
                    flush(writer)
                summary.scenes.append({**scene, "ref_frame_ids": [int(i) for i in ids]})
                scene, ids = next(scene_of, (None, None))
                if scene is None:
                    raise DataError(f"video '{src}' decodes more frames than its scene detection saw ({n} > {detection.n_frames}); re-encode it")
                feats = model.encode_references(finder.reference_lab(ids, model.resolution))
            frames.append(frame)
            if len(frames) == clip_len:
                flush(writer)
        if frames:
            flush(writer)
        summary.scenes.append({**scene, "ref_frame_ids": [int(i) for i in ids]})
        summary.n_frames = writer.n_frames
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary
