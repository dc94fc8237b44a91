"""PySceneDetect's ContentDetector and AdaptiveDetector behind our streaming detector interface.

They are the peers the scene-analysis step and ``scenecolor bench scenes`` measure ours against. Each runs
with the package's defaults, including the automatic downscale its ``SceneManager`` applies
(frames resized so the width is about 256 pixels); the frames come from the same decoder as
ours (:func:`scenecolor.core.video.iter_frames`), in RGB, flipped to the BGR order OpenCV expects.
"""

from __future__ import annotations

import numpy as np
from scenedetect import FrameTimecode
from scenedetect.detectors import AdaptiveDetector, ContentDetector
from scenedetect.scene_manager import DEFAULT_MIN_WIDTH

from scenecolor.core.video import PixelFormat
from scenecolor.scenes.ssim_detector import CutDetector, Detection, SsimConfig, SsimCutDetector


def scenedetect_size(width: int, height: int) -> tuple[int, int] | None:
    """The frame size PySceneDetect's SceneManager works at by default (auto downscale)."""
    if width < DEFAULT_MIN_WIDTH:
        return None
    factor = width / float(DEFAULT_MIN_WIDTH)
    w, h = int(width / factor), int(height / factor)
    return w - w % 2, h - h % 2


class SceneDetectPeer(CutDetector):
    """Wraps a PySceneDetect detector class (built fresh, with its defaults, for every video)."""

    pixel_format: PixelFormat = "rgb24"

    def __init__(self, name: str, factory: type) -> None:
        self.name = name
        self._factory = factory
        self.start(25.0)

    def decode_size(self, width: int, height: int) -> tuple[int, int] | None:
        return scenedetect_size(width, height)

    def start(self, fps: float, step: int = 1) -> None:
        self._fps, self._step = fps, step
        self._detector = self._factory()
        self._cuts: list[int] = []
        self._scores: list[float] = []
        self._count = 0

    def push(self, frame: np.ndarray) -> None:
        timecode = FrameTimecode(self._count * self._step, fps=self._fps)
        found = self._detector.process_frame(timecode, np.ascontiguousarray(frame[:, :, ::-1]))
        self._cuts.extend(int(tc.frame_num) for tc in found)
        score = getattr(self._detector, "_frame_score", None)  # content_val, for plots only
        self._scores.append(float(score) if score is not None else np.nan)
        self._count += 1

    def finish(self, n_frames: int) -> Detection:
        if self._count:
            last = FrameTimecode((self._count - 1) * self._step, fps=self._fps)
            self._cuts.extend(int(tc.frame_num) for tc in self._detector.post_process(last))
        cuts = sorted({c for c in self._cuts if 0 < c < n_frames})
        return Detection(
            detector=self.name,
            cuts=cuts,
            n_frames=n_frames,
            fps=self._fps,
            threshold=None,
            scores=np.asarray(self._scores, dtype=np.float64),
            frame_index=np.arange(self._count) * self._step,
        )


def content_detector() -> SceneDetectPeer:
    """PySceneDetect ContentDetector (threshold 27, min_scene_len 15) as a peer."""
    return SceneDetectPeer("ContentDetector", ContentDetector)


def adaptive_detector() -> SceneDetectPeer:
    """PySceneDetect AdaptiveDetector (adaptive_threshold 3, min_content_val 15) as a peer."""
    return SceneDetectPeer("AdaptiveDetector", AdaptiveDetector)


def all_detectors(config: SsimConfig | None = None) -> list[CutDetector]:
    """Ours with ``config`` and the two PySceneDetect peers, in the order tables show them."""
    return [SsimCutDetector(config or SsimConfig()), content_detector(), adaptive_detector()]
