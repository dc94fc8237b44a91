"""8-bit sRGB <-> CIE Lab through lookup tables: the evaluation's fast path.

The evaluation step converts every colorized clip to 8-bit RGB (to score it) and back to Lab (for the
ab change), many times over. The sRGB transfer curve is the expensive part of both directions
(a power per value), and on 8-bit data it is a table: 256 linear values one way, 255 decision
thresholds the other way (``searchsorted`` gives exactly the rounded 8-bit code). The rest is
the same matrix and CIE f(t) as :mod:`scenecolor.core.color` (D65, 2 degree observer), and the
results agree with scikit-image's ``rgb2lab`` / ``lab2rgb`` (+ rounding): Lab within 1e-3, and
8-bit RGB identical but for rare +-1 ties (float32 against float64).
"""

from __future__ import annotations

import numpy as np

from scenecolor.core.color import LAB_EPS, LAB_KAPPA, RGB_TO_XYZ, WHITE_D65, XYZ_TO_RGB
from scenecolor.core.errors import DataError


def _expand(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0,1] -> linear (IEC 61966-2-1)."""
    return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


_LINEAR_OF_CODE = _expand(np.arange(256) / 255.0).astype(np.float32)  # 8-bit code -> linear
# Linear value at the midpoint between codes c and c+1: searchsorted(side="right") gives the code
# that round(255 * compand(x)) gives, ties rounded up, values outside [0, 1] clipped.
_CODE_THRESHOLDS = _expand((np.arange(255) + 0.5) / 255.0).astype(np.float32)
# A uniform grid over [0, 1] finer than the closest two thresholds (3e-4 apart, at the dark end)
# holds at most one threshold per cell: the code at the cell's start plus one comparison is the
# exact ``searchsorted`` result, with two table look-ups instead of a binary search per value.
_GRID = 8192
_CODE_AT_CELL = np.searchsorted(_CODE_THRESHOLDS, np.arange(_GRID + 1, dtype=np.float32) / _GRID, side="right").astype(
    np.int32
)
_NEXT_THRESHOLD = np.append(_CODE_THRESHOLDS, np.float32(np.inf))  # threshold above each code
_RGB_TO_XYZN = (RGB_TO_XYZ / WHITE_D65[:, None]).T.astype(np.float32)  # rows: r, g, b -> X/Xn, Y/Yn, Z/Zn
_XYZ_TO_RGB_T = XYZ_TO_RGB.T.astype(np.float32)


def rgb8_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 Lab (..., 3)."""
    if rgb.dtype != np.uint8 or rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise DataError(f"rgb8_to_lab needs uint8 RGB with 3 channels last, got {rgb.dtype} {rgb.shape}")
    xyz = _LINEAR_OF_CODE[rgb] @ _RGB_TO_XYZN
    f = np.where(xyz > LAB_EPS, np.cbrt(xyz), LAB_KAPPA * xyz + np.float32(16.0 / 116.0))
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1).astype(np.float32)


def rgb8_lightness(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 CIE L (...): :func:`rgb8_to_lab`'s first channel alone (one matrix column
    and one cube root instead of three), for joining a video frame's own lightness to new colours."""
    if rgb.dtype != np.uint8 or rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise DataError(f"rgb8_lightness needs uint8 RGB with 3 channels last, got {rgb.dtype} {rgb.shape}")
    lut = _LINEAR_OF_CODE * _RGB_TO_XYZN[:, 1][:, None]  # (3, 256): each channel's code -> its share of Y/Yn
    y = lut[0][rgb[..., 0]] + lut[1][rgb[..., 1]] + lut[2][rgb[..., 2]]
    fy = np.where(y > LAB_EPS, np.cbrt(y), LAB_KAPPA * y + np.float32(16.0 / 116.0))
    return (116.0 * fy - 16.0).astype(np.float32)


def lab_to_rgb8(lab: np.ndarray) -> np.ndarray:
    """float Lab (..., 3) -> uint8 RGB (..., 3), out-of-gamut colours clipped as scikit-image does."""
    if lab.ndim < 1 or lab.shape[-1] != 3:
        raise DataError(f"lab_to_rgb8 needs Lab with 3 channels last, got shape {lab.shape}")
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack(
        [fy + lab[..., 1] / 500.0, fy, np.maximum(fy - lab[..., 2] / 200.0, 0.0)], axis=-1
    )  # scikit-image clips f_z < 0
    delta = np.float32(6.0 / 29.0)
    xyz = np.where(f > delta, f * f * f, (f - np.float32(16.0 / 116.0)) / np.float32(LAB_KAPPA))
    linear = (xyz * WHITE_D65.astype(np.float32)) @ _XYZ_TO_RGB_T
    cell = (np.clip(linear, 0.0, 1.0) * _GRID).astype(np.int32)
    code = _CODE_AT_CELL[cell]
    code += linear >= _NEXT_THRESHOLD[code]
    return code.astype(np.uint8)
