"""The paper's scene-cut detector (SSIM deviation with an adaptive threshold), streaming.

Section 3.1.4, phase 1 of the paper, as corrected by SPEC.md: SSIM between consecutive
grayscale frames, ``SSDev = 1 - SSIM``, ``threshold = mean(SSDev) + k * std(SSDev)`` and a new
scene wherever SSDev is *greater* than the threshold (the paper's Step 6 says "less": a printing
error). Frame 0 always opens scene 1.

Beyond the paper, and documented in the scene-analysis step:
- an absolute floor ``min_ssdev``: a relative threshold always fires on *something* (a constant
  clip with compression noise has a tiny std, so its noisiest pair exceeds mean + k*std); a cut
  must also change at least this much of the structure (PySceneDetect's AdaptiveDetector pairs
  its ratio with ``min_content_val`` for the same reason);
- a one-frame flash filter: a spike whose neighbours (frame before vs frame after) still look
  alike is a flash, not a cut;
- a local-peak test ``peak_ratio``: a cut is an isolated spike, fast motion inside a shot is a
  hill whose neighbours are as high (AdaptiveDetector's idea, applied to SSDev);
- motion compensation ``motion_ratio``: where a frame's SSDev passes the floor, the previous
  frame is warped onto it by dense optical flow (:func:`scenecolor.scenes.ssim.motion_compensated`)
  and SSIM is taken again; a cut must keep at least ``motion_ratio`` of its SSDev then. Camera
  shake, pans, whip pans and fast motion in front of the camera are mostly explained by a motion
  field, a change of shot is not (issue 14: a hand-held clip with a whip pan got two false cuts);
- a minimum scene length (non-maximum suppression: the strongest spike in a window wins).
``PAPER_RULE`` switches all but the minimum scene length off, for the ablation in the scene-analysis step.

The detector streams: frames are decoded by :func:`scenecolor.core.video.iter_frames` as the luma
plane already resized by the decoder, buffered in small batches and scored with a Gaussian SSIM
(Wang et al. 2004: 11x11 window, sigma 1.5), one OpenCV filter call per batch. Only the
per-frame score arrays are kept, so memory does not grow with video length.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from scenecolor.core.errors import ParameterError
from scenecolor.core.video import DecodeTally, PixelFormat, iter_frames, probe
from scenecolor.scenes.config import SsimConfig
from scenecolor.scenes.ssim import motion_compensated, ssim_lagged, ssim_pairs


# -- the decision rule (after the pass) ---------------------------------------------------------
def adaptive_threshold(ssdev: np.ndarray, k: float) -> float:
    """``mean + k * std`` of the SSDev values (population std; Eq. 3 corrected). NaN if empty."""
    values = np.asarray(ssdev, dtype=np.float64)
    if values.size == 0:
        return math.nan
    return float(values.mean() + k * values.std())


PEAK_WINDOW = 2  # frames on each side for the local-peak test (as AdaptiveDetector's window_width)


def _neighbour_mean(values: np.ndarray, i: int) -> float:
    idx = [j for j in range(i - PEAK_WINDOW, i + PEAK_WINDOW + 1) if j != i and 1 <= j < len(values)]
    return float(values[idx].mean()) if idx else 0.0


def select_cuts(
    ssdev: np.ndarray,
    *,
    k: float,
    min_ssdev: float = 0.0,
    min_scene_len: int = 1,
    skip_ssdev: np.ndarray | None = None,
    peak_ratio: float = 0.0,
    motion_ssdev: np.ndarray | None = None,
    motion_ratio: float = 0.0,
) -> tuple[list[int], float]:
    """Positions (in ``ssdev``'s index) that open a new scene, and the adaptive threshold.

    Args:
        ssdev: one value per frame; ``ssdev[i] = 1 - SSIM(frame i-1, frame i)``; ``ssdev[0]``
            (frame 0 has no predecessor) is ignored.
        k: the multiplier of the standard deviation (paper: 2.5).
        min_ssdev: absolute floor: a cut needs ``ssdev > max(threshold, min_ssdev)``.
        min_scene_len: cuts closer than this to frame 0 or to a stronger cut are dropped.
        skip_ssdev: optional ``1 - SSIM(frame i-2, frame i)``; when given, a spike at ``i`` is a
            one-frame flash (dropped) if frame i-1 and frame i+1, or frame i-2 and frame i, differ
            by no more than the cut level.
        peak_ratio: local-peak test (0 = off): a cut's SSDev must be at least ``peak_ratio``
            times the mean SSDev of the ``PEAK_WINDOW`` frames on each side. A cut is an isolated
            spike; fast motion inside a shot is a hill whose neighbours are as high.
        motion_ssdev: optional motion-compensated SSDev (``1 - SSIM(frame i-1 warped onto frame
            i by optical flow, frame i)``, NaN where not computed).
        motion_ratio: motion test (0 = off; needs ``motion_ssdev``): a candidate whose
            compensated SSDev is below ``motion_ratio`` times its SSDev is motion inside a shot
            (the flow explains most of the change), not a cut; and the local-peak test must
            then pass on the compensated SSDev too (the smaller of the two where both are
            known): motion that the flow explains only in part fails it when its neighbours
            move as much once compensated.
    """
    values = np.asarray(ssdev, dtype=np.float64)
    pairs = values[1:]
    threshold = adaptive_threshold(pairs, k)
    if pairs.size == 0:
        return [], threshold
    level = max(threshold, min_ssdev)
    candidates = [i for i in range(1, len(values)) if values[i] > level]
    if skip_ssdev is not None:
        skip = np.asarray(skip_ssdev, dtype=np.float64)

        def similar(j: int) -> bool:  # frames j-2 and j look alike
            return 2 <= j < len(skip) and skip[j] <= level

        candidates = [i for i in candidates if not (similar(i) or similar(i + 1))]
    peak = values
    if motion_ssdev is not None and motion_ratio > 0:
        moved = np.asarray(motion_ssdev, dtype=np.float64)[: len(values)]
        peak = np.where(np.isfinite(moved), np.minimum(moved, values[: len(moved)]), values[: len(moved)])
        peak = np.concatenate([peak, values[len(moved) :]])
        candidates = [i for i in candidates if not peak[i] < motion_ratio * values[i]]
    if peak_ratio > 0:
        candidates = [
            i
            for i in candidates
            if values[i] >= peak_ratio * _neighbour_mean(values, i) and peak[i] >= peak_ratio * _neighbour_mean(peak, i)
        ]
    kept: list[int] = []
    for i in sorted(candidates, key=lambda j: (-values[j], j)):
        if i >= min_scene_len and all(abs(i - c) >= min_scene_len for c in kept):
            kept.append(i)
    return sorted(kept), threshold


# -- results and the streaming interface --------------------------------------------------------
@dataclass
class Detection:
    """The cuts one detector found in one video, with its per-frame scores and timings."""

    detector: str
    cuts: list[int]
    n_frames: int
    fps: float
    threshold: float | None
    scores: np.ndarray  # score of each processed frame against the previous processed frame
    frame_index: np.ndarray  # the video frame index of each score
    decode_s: float = 0.0
    score_s: float = 0.0
    skip_scores: np.ndarray | None = None  # 1 - SSIM(frame i-2, frame i) where the flash filter looked
    motion_scores: np.ndarray | None = None  # 1 - SSIM(frame i-1 warped onto frame i, frame i) above the floor

    @property
    def frames_per_s(self) -> float:
        total = self.decode_s + self.score_s
        return self.n_frames / total if total > 0 else math.inf

    def to_json(self) -> dict:
        """The CLI contract: ``{"cuts", "n_frames", "fps", "threshold"}`` (threshold null if none)."""
        thr = None if self.threshold is None or not math.isfinite(self.threshold) else float(self.threshold)
        return {
            "cuts": [int(c) for c in self.cuts],
            "n_frames": int(self.n_frames),
            "fps": float(self.fps),
            "threshold": thr,
        }

    def scenes(self) -> list[dict[str, int]]:
        """Scenes as ``{"start", "end", "keyframe"}``: ``end`` is one past the last frame and the
        keyframe is the scene's middle frame (away from transition residue at its edges)."""
        bounds = [0, *self.cuts, self.n_frames]
        return [{"start": a, "end": b, "keyframe": (a + b - 1) // 2} for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def scene_record(self) -> dict:
        """One video's entry of ``scenes.json`` (docs/ARCHITECTURE.md)."""
        return {**self.to_json(), "scenes": self.scenes()}


class CutDetector(ABC):
    """A streaming cut detector: ``start``, then ``push`` each frame in decoded order, then ``finish``.

    Ours and the PySceneDetect peers share it, so :func:`run_detector` drives any of them over
    the same decoder and they can be swapped and timed alike.
    """

    name: str = "detector"
    pixel_format: PixelFormat = "gray"
    fast_decode: bool = False  # decode without the in-loop deblocking filter (video.iter_frames(fast=True))

    def decode_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The ``(width, height)`` the decoder should resize to (None: native size)."""
        return None

    @abstractmethod
    def start(self, fps: float, step: int = 1) -> None:
        """Reset the state for a new video sampled one frame in ``step``."""

    @abstractmethod
    def push(self, frame: np.ndarray) -> None:
        """Take the next decoded frame."""

    @abstractmethod
    def finish(self, n_frames: int) -> Detection:
        """End of the video: return the detection (``n_frames`` counts every decoded frame)."""


def decode_size_wh(width: int, height: int, target_width: int) -> tuple[int, int] | None:
    """Decoder output (width, height) at ``target_width`` keeping the aspect ratio (even sides), or None if already
    that small."""
    if target_width <= 0 or width <= target_width:
        return None
    h = max(2, int(round(height * target_width / width / 2)) * 2)
    return target_width, h


@dataclass
class SsimCutDetector(CutDetector):
    """The paper's SSDev rule (corrected) with the additions listed in the module docstring."""

    config: SsimConfig = field(default_factory=SsimConfig)
    name: str = "ssdev (ours)"
    pixel_format: PixelFormat = "gray"
    fast_decode: bool = True  # SSIM at 128 px does not see the faint block edges deblocking removes

    def __post_init__(self) -> None:
        self.start(25.0)

    def decode_size(self, width: int, height: int) -> tuple[int, int] | None:
        return decode_size_wh(width, height, self.config.width)

    def start(self, fps: float, step: int = 1) -> None:
        self._fps, self._step = fps, step
        self._pending: list[np.ndarray] = []
        self._carry: list[np.ndarray] = []  # the last two frames already scored
        self._ssdev: list[float] = []  # 1 - SSIM(frame i-1, frame i); 0 for frame 0
        self._skip: list[float] = []  # 1 - SSIM(frame i-2, frame i) near candidates, NaN elsewhere
        self._motion: list[float] = []  # 1 - SSIM(frame i-1 warped onto frame i, frame i) at candidates
        self._score_s = 0.0

    def push(self, frame: np.ndarray) -> None:
        self._pending.append(frame)
        if len(self._pending) >= self.config.batch:
            self._score_pending()

    def _score_pending(self) -> None:
        """Score the pending frames against their predecessors (two carried from the last batch).

        The flash filter's frame i-2 vs frame i comparison and the motion-compensated SSDev are
        only computed where they can matter: around a frame whose SSDev exceeds the absolute floor
        (a cut candidate), which is rare.
        """
        if not self._pending:
            return
        t0 = time.perf_counter()
        stack = np.stack(self._carry + self._pending)
        n_carry = len(self._carry)
        ssim1 = ssim_lagged(stack, lags=(1,))[1]  # ssim1[j-1] pairs stack[j-1], stack[j]
        base = len(self._ssdev) - n_carry  # global index of stack[0]
        self._ssdev.extend(1.0 - float(ssim1[j - 1]) if j >= 1 else 0.0 for j in range(n_carry, len(stack)))
        floor = self.config.min_ssdev
        firsts: list[np.ndarray] = []  # the pairs of both tests, scored in one SSIM call
        seconds: list[np.ndarray] = []
        if self.config.flash_filter:
            self._skip.extend([math.nan] * (len(stack) - n_carry))
            need_skip = [
                j
                for j in range(max(n_carry, 2), len(stack))
                if self._ssdev[base + j] > floor or self._ssdev[base + j - 1] > floor
            ]
            firsts += [stack[j - 2] for j in need_skip]
            seconds += [stack[j] for j in need_skip]
        else:
            need_skip = []
        if self.config.motion_ratio > 0:
            self._motion.extend([math.nan] * (len(stack) - n_carry))
            need_motion = [j for j in range(max(n_carry, 1), len(stack)) if self._ssdev[base + j] > floor]
            firsts += [motion_compensated(stack[j - 1], stack[j]) for j in need_motion]
            seconds += [stack[j] for j in need_motion]
        else:
            need_motion = []
        if firsts:
            values = 1.0 - ssim_pairs(np.stack(firsts), np.stack(seconds))
            for j, value in zip(need_skip, values[: len(need_skip)]):
                self._skip[base + j] = float(value)
            for j, value in zip(need_motion, values[len(need_skip) :]):
                self._motion[base + j] = float(value)
        self._carry = list(stack[-2:])
        self._pending = []
        self._score_s += time.perf_counter() - t0

    def finish(self, n_frames: int) -> Detection:
        self._score_pending()
        ssdev = np.asarray(self._ssdev, dtype=np.float64)
        min_len = max(1, math.ceil(self.config.min_scene_len / self._step))
        positions, threshold = select_cuts(
            ssdev,
            k=self.config.k,
            min_ssdev=self.config.min_ssdev,
            min_scene_len=min_len,
            skip_ssdev=np.asarray(self._skip) if self.config.flash_filter else None,
            peak_ratio=self.config.peak_ratio,
            motion_ssdev=np.asarray(self._motion) if self.config.motion_ratio > 0 else None,
            motion_ratio=self.config.motion_ratio,
        )
        return Detection(
            detector=self.name,
            cuts=[p * self._step for p in positions],
            n_frames=n_frames,
            fps=self._fps,
            threshold=threshold,
            scores=ssdev,
            frame_index=np.arange(len(ssdev)) * self._step,
            score_s=self._score_s,
            skip_scores=np.asarray(self._skip, dtype=np.float64) if self.config.flash_filter else None,
            motion_scores=np.asarray(self._motion, dtype=np.float64) if self.config.motion_ratio > 0 else None,
        )


def redecide(det: Detection, config: SsimConfig, name: str | None = None) -> Detection:
    """The same SSDev scores decided again under another rule (k, floor, filters): no re-decoding.

    The flash filter and the motion compensation need the scores the detector stored for them;
    without them they are skipped.
    """
    step = int(det.frame_index[1] - det.frame_index[0]) if len(det.frame_index) > 1 else 1
    positions, threshold = select_cuts(
        det.scores,
        k=config.k,
        min_ssdev=config.min_ssdev,
        min_scene_len=max(1, math.ceil(config.min_scene_len / step)),
        skip_ssdev=det.skip_scores if config.flash_filter else None,
        peak_ratio=config.peak_ratio,
        motion_ssdev=det.motion_scores,
        motion_ratio=config.motion_ratio,
    )
    return replace(
        det, detector=name or det.detector, cuts=[int(det.frame_index[p]) for p in positions], threshold=threshold
    )


PAPER_RULE = dict(
    min_ssdev=0.0, flash_filter=False, peak_ratio=0.0, motion_ratio=0.0
)  # SsimConfig overrides: the paper alone


# -- driving a detector over a video ------------------------------------------------------------
def _timed(frames: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, float]]:
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(frames)
        except StopIteration:
            return
        yield frame, time.perf_counter() - t0


def run_detector(path: str | os.PathLike[str], detector: CutDetector, *, step: int = 1) -> Detection:
    """Decode ``path`` once, streaming each frame into ``detector``; time decode and scoring apart.

    ``n_frames`` of the result counts the decoded frames (a header that declares another count is a
    :class:`~scenecolor.core.video.FrameCountWarning`). Raises the
    :class:`~scenecolor.core.errors.VideoError` subclasses of :mod:`scenecolor.core.video` (missing,
    empty, corrupt or truncated file), each naming the file.
    """
    if step < 1:
        raise ParameterError(f"frame step must be >= 1, got {step}")
    info = probe(path)
    size = detector.decode_size(info.width, info.height)
    detector.start(info.fps, step)
    decode_s = push_s = 0.0
    tally = DecodeTally()
    frames = iter_frames(
        path, pixel_format=detector.pixel_format, size=size, step=step, fast=detector.fast_decode, tally=tally
    )
    for frame, dt in _timed(frames):
        decode_s += dt
        t0 = time.perf_counter()
        detector.push(frame)
        push_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    result = detector.finish(tally.decoded)  # the frames that decode, whatever the header declares
    result.decode_s = decode_s
    result.score_s = push_s + (time.perf_counter() - t0)
    return result


def detect_cuts(path: str | os.PathLike[str], config: SsimConfig | None = None, *, step: int = 1) -> Detection:
    """The paper's detector (corrected) on one video file, with ``config`` (defaults: SsimConfig())."""
    return run_detector(path, SsimCutDetector(config or SsimConfig()), step=step)


def decode_only(
    path: str | os.PathLike[str], detector: CutDetector | None = None, *, fast: bool | None = None
) -> tuple[int, float]:
    """Frames decoded and seconds taken by the decode a detector asks for, with no scoring: the floor.

    ``fast`` overrides the detector's ``fast_decode`` (to measure what skipping deblocking saves).
    """
    det = detector or SsimCutDetector()
    info = probe(path)
    t0 = time.perf_counter()
    size = det.decode_size(info.width, info.height)
    skip = det.fast_decode if fast is None else fast
    n = sum(1 for _ in iter_frames(path, pixel_format=det.pixel_format, size=size, fast=skip))
    return n, time.perf_counter() - t0
