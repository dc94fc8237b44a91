"""The SSIM cut detector's settings: plain validated data, importable without the decoder or OpenCV.

The CLI builds its ``scenecolor scenes`` options from these defaults, so ``scenecolor --help``
starts without loading the video stack.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from scenecolor.core.errors import ParameterError

SSIM_WINDOW = 11  # taps of the Gaussian SSIM window (as skimage's gaussian_weights=True)
SSIM_SIGMA = 1.5


@dataclass(frozen=True)
class SsimConfig:
    """Parameters of :class:`SsimCutDetector`; validated on creation (ParameterError)."""

    k: float = 2.5
    width: int = 128
    min_scene_len: int = 8
    min_ssdev: float = 0.25
    flash_filter: bool = True
    peak_ratio: float = 1.5
    motion_ratio: float = 0.4
    batch: int = 64

    def __post_init__(self) -> None:
        if not (self.k > 0 and math.isfinite(self.k)):
            raise ParameterError(f"k must be a positive number (paper: 2.5), got {self.k}")
        if self.min_scene_len < 1:
            raise ParameterError(f"min_scene_len must be >= 1 frame, got {self.min_scene_len}")
        if self.width < SSIM_WINDOW and self.width != 0:
            raise ParameterError(f"width must be >= {SSIM_WINDOW} pixels (or 0 = native), got {self.width}")
        if not 0.0 <= self.min_ssdev < 2.0:
            raise ParameterError(f"min_ssdev must be in [0, 2) (SSDev = 1 - SSIM), got {self.min_ssdev}")
        if not (self.peak_ratio >= 0 and math.isfinite(self.peak_ratio)):
            raise ParameterError(f"peak_ratio must be >= 0 (0 = off), got {self.peak_ratio}")
        if self.flash_filter not in (True, False):
            raise ParameterError(f"flash_filter must be true or false, got {self.flash_filter!r}")
        if isinstance(self.motion_ratio, bool) or not (
            isinstance(self.motion_ratio, numbers.Real) and 0.0 <= self.motion_ratio <= 1.0
        ):
            raise ParameterError(
                f"motion_ratio must be in [0, 1] (0 = no motion compensation), got {self.motion_ratio!r}"
            )
        if self.batch < 1:
            raise ParameterError(f"batch must be >= 1, got {self.batch}")
