"""The SSIM cut detector's settings: plain validated data, importable without the decoder or OpenCV.

The CLI builds its ``scenecolor scenes`` options from these defaults, so its help
starts without loading the video stack.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from scenecolor.core.errors import validated

SSIM_WINDOW = 11  # taps of the Gaussian SSIM window (as skimage's gaussian_weights=True)
SSIM_SIGMA = 1.5


def _width(value: int) -> int:
    if 0 < value < SSIM_WINDOW:
        raise ValueError(f"width must be >= {SSIM_WINDOW} pixels (or 0 = native), got {value}")
    return value


@validated
class SsimConfig:
    """Parameters of :class:`SsimCutDetector` (a bad value raises ParameterError); the scene-analysis step's
    parameters too."""

    k: Annotated[
        float,
        Field(gt=0, allow_inf_nan=False, description="the cut threshold is mean(SSDev) + k * std(SSDev) (paper: 2.5)"),
    ] = 2.5
    width: Annotated[
        int,
        Field(ge=0, description="working width in pixels of the luma plane SSIM runs on (0: the video's own)"),
        AfterValidator(_width),
    ] = 128
    min_scene_len: Annotated[
        int, Field(ge=1, description="frames; cuts closer than this to a stronger cut are dropped")
    ] = 8
    min_ssdev: Annotated[
        float, Field(ge=0.0, lt=2.0, description="absolute floor on SSDev for a cut (beyond the paper)")
    ] = 0.25
    flash_filter: Annotated[bool, Field(strict=True, description="drop one-frame flashes (beyond the paper)")] = True
    peak_ratio: Annotated[
        float,
        Field(
            ge=0.0,
            allow_inf_nan=False,
            description="a cut's SSDev must be this many times its neighbours' mean (0: off; beyond the paper)",
        ),
    ] = 1.5
    motion_ratio: Annotated[
        float,
        Field(
            ge=0.0,
            le=1.0,
            allow_inf_nan=False,
            description="SSDev share a cut keeps once the previous frame is flow-warped onto it (0: off; beyond paper)",
        ),
    ] = 0.4
    batch: Annotated[int, Field(ge=1, description="frames whose SSIM is computed in one batch")] = 64
