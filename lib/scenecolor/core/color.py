"""RGB <-> CIE Lab (D65), in NumPy for data work and in torch for the networks.

Colorization works in CIE Lab: the lightness L (0..100) is the network's input, the two
chroma channels a and b (roughly -128..127) are what it predicts, and the result is L plus the
predicted ab converted back to RGB. The NumPy pair wraps scikit-image (the reference
implementation); the torch pair reimplements the same formulas (sRGB companding, the sRGB->XYZ
matrix, the D65 white point, the CIE f(t) with its linear toe) so that gradients flow through
them and a batch runs on any device. Both agree with scikit-image to ~1e-3 in Lab units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from skimage import color as skcolor

from scenecolor.core.errors import DataError

if TYPE_CHECKING:  # torch is imported lazily: data steps need not pay for it
    import torch

L_MAX = 100.0
AB_RANGE = 128.0  # a, b lie roughly in [-128, 127] for sRGB colours
AB_SCALE = 110.0  # the networks see ab / AB_SCALE (about [-1, 1]) and give ab back in those units

# sRGB (linear) -> XYZ, D65 (IEC 61966-2-1), and the D65 reference white (2 degree observer).
RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    dtype=np.float64,
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)
LAB_EPS = (6.0 / 29.0) ** 3  # 0.008856: below it f(t) is linear
LAB_KAPPA = (29.0 / 6.0) ** 2 / 3.0  # slope of the linear part (7.787)


def _check_last_axis(arr: np.ndarray, name: str) -> None:
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise DataError(f"{name} must have 3 channels on its last axis, got shape {arr.shape}")


def to_float_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGB as float32 in [0, 1], whatever its storage.

    Args:
        rgb: (..., 3) RGB, channels last; uint8 in 0..255, or float in [0, 1] (values outside are clipped).

    Returns:
        float32 (..., 3) in [0, 1].

    Raises:
        DataError: the last axis is not 3 channels.
    """
    _check_last_axis(rgb, "rgb")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    return np.clip(rgb.astype(np.float32, copy=False), 0.0, 1.0)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB -> CIE Lab (D65, 2 degree observer), through scikit-image.

    Args:
        rgb: (..., 3) RGB, channels last; uint8 in 0..255 or float in [0, 1].

    Returns:
        float32 (..., 3) Lab: L in [0, 100], a and b roughly in [-128, 127].

    Raises:
        DataError: the last axis is not 3 channels.

    Example:
        >>> lab = rgb_to_lab(np.full((2, 4, 4, 3), 255, np.uint8))
        >>> lab.shape, lab.dtype, round(float(lab[0, 0, 0, 0]), 3)
        ((2, 4, 4, 3), dtype('float32'), 100.0)
    """
    return skcolor.rgb2lab(to_float_rgb(rgb), illuminant="D65", observer="2").astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) -> RGB, the inverse of :func:`rgb_to_lab`; out-of-gamut colours are clipped.

    Args:
        lab: (..., 3) float Lab, channels last: L in [0, 100], a and b roughly in [-128, 127].

    Returns:
        float32 (..., 3) RGB in [0, 1].

    Raises:
        DataError: the last axis is not 3 channels.
    """
    _check_last_axis(lab, "lab")
    with np.errstate(invalid="ignore"):
        rgb = skcolor.lab2rgb(lab.astype(np.float64), illuminant="D65", observer="2")
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """The networks' grey input: CIE L / 100.

    Args:
        rgb: (..., 3) RGB, channels last; uint8 in 0..255 or float in [0, 1].

    Returns:
        float32 (...) in [0, 1] (the channel axis dropped).
    """
    return rgb_to_lab(rgb)[..., 0] / L_MAX


def merge_l_ab(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Join a lightness with predicted chroma and convert to RGB (the last step of colorization).

    Args:
        lightness: (...) float CIE L in [0, 100].
        ab: (..., 2) float a and b, roughly in [-128, 127]; L's shape plus a last axis of 2.

    Returns:
        float32 (..., 3) RGB in [0, 1].

    Raises:
        DataError: ``ab`` is not ``lightness``'s shape plus a last axis of 2.
    """
    if ab.shape[-1] != 2 or ab.shape[:-1] != lightness.shape:
        raise DataError(f"L has shape {lightness.shape} and ab {ab.shape}; ab must be L's shape plus a last axis of 2")
    return lab_to_rgb(np.concatenate([lightness[..., None], ab], axis=-1))


# --------------------------------------------------------------------------------------------
# torch (differentiable, batched, any device); channel axis chosen by `dim`
# --------------------------------------------------------------------------------------------


def _matrix(m: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.as_tensor(m, dtype=like.dtype, device=like.device)


def _apply_matrix(x: torch.Tensor, m: np.ndarray, dim: int) -> torch.Tensor:
    import torch

    moved = torch.movedim(x, dim, -1)
    out = moved @ _matrix(m, x).T
    return torch.movedim(out, -1, dim)


def _check_channels(x: torch.Tensor, dim: int, name: str) -> None:
    if x.ndim == 0 or x.shape[dim] != 3:
        raise DataError(f"{name} must have 3 channels on axis {dim}, got shape {tuple(x.shape)}")


def _torch_linear(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0,1] (clamped) -> linear RGB; the power is taken on values clamped above the toe."""
    import torch

    x = rgb.clamp(0.0, 1.0)
    return torch.where(x > 0.04045, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)


def _torch_lab_f(t: torch.Tensor) -> torch.Tensor:
    """CIE Lab's f(t): the cube root above eps, its linear toe below (root taken on values clamped away from 0)."""
    import torch

    return torch.where(t > LAB_EPS, t.clamp_min(LAB_EPS) ** (1.0 / 3.0), LAB_KAPPA * t + 16.0 / 116.0)


def torch_rgb_to_lab(rgb: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """RGB -> CIE Lab in torch, differentiable and batched, on the tensor's device.

    The power and cube root are taken on values clamped away from zero and ``torch.where`` selects
    the linear toe below the thresholds, so gradients are finite everywhere. Agrees with
    :func:`rgb_to_lab` to about 1e-3 Lab units.

    Args:
        rgb: float RGB in [0, 1] (clamped), 3 channels on axis ``dim``, e.g. (B, 3, H, W) for ``dim=1``.
        dim: the channel axis (negative counts from the end; -1 = channels last).

    Returns:
        Lab of ``rgb``'s shape and dtype: L in [0, 100], a and b roughly in [-128, 127].

    Raises:
        DataError: axis ``dim`` does not hold 3 channels.

    Example:
        >>> lab = torch_rgb_to_lab(torch.rand(2, 3, 8, 8))
        >>> lab.shape
        torch.Size([2, 3, 8, 8])
    """
    import torch

    _check_channels(rgb, dim, "rgb")
    xyz = _apply_matrix(_torch_linear(rgb), RGB_TO_XYZ, dim)
    shape = [1] * xyz.ndim
    shape[dim] = 3
    f = _torch_lab_f(xyz / _matrix(WHITE_D65, xyz).reshape(shape))
    fx, fy, fz = torch.unbind(f, dim=dim)
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return torch.stack([lightness, a, b], dim=dim)


def torch_rgb_to_lightness(rgb: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """CIE L alone of an RGB tensor: :func:`torch_rgb_to_lab`'s first channel without computing X, Z, a
    and b (a grey query needs only L).

    Args:
        rgb: float RGB in [0, 1] (clamped), 3 channels on axis ``dim``.
        dim: the channel axis.

    Returns:
        ``rgb``'s dtype, axis ``dim`` of size 1 (e.g. (B, 1, H, W)): L in [0, 100].

    Raises:
        DataError: axis ``dim`` does not hold 3 channels.
    """
    _check_channels(rgb, dim, "rgb")
    return _torch_lightness_of_linear(_torch_linear(rgb), dim)


def _torch_lightness_of_linear(linear: torch.Tensor, dim: int) -> torch.Tensor:
    """Linear RGB -> CIE L through Y / Yn alone (one row of the XYZ matrix)."""
    return 116.0 * _torch_lab_f(_apply_matrix(linear, RGB_TO_XYZ[1:2] / WHITE_D65[1], dim)) - 16.0


def torch_srgb8_to_lightness(rgb8: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """CIE L of 8-bit sRGB: :func:`torch_rgb_to_lightness` of ``rgb8 / 255``, the linearisation read from
    a 256-entry table instead of a power per pixel (a third of the time).

    Args:
        rgb8: uint8 sRGB in 0..255, 3 channels on axis ``dim``.
        dim: the channel axis.

    Returns:
        float32, axis ``dim`` of size 1: L in [0, 100].

    Raises:
        DataError: axis ``dim`` does not hold 3 channels, or ``rgb8`` is not uint8.
    """
    import torch

    _check_channels(rgb8, dim, "rgb8")
    if rgb8.dtype != torch.uint8:
        raise DataError(f"rgb8 must be uint8, got {rgb8.dtype}")
    table = _torch_linear(torch.arange(256, dtype=torch.float32, device=rgb8.device) / 255.0)
    return _torch_lightness_of_linear(torch.take(table, rgb8.long()), dim)


def torch_lab_to_rgb(lab: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """CIE Lab -> RGB in torch, the inverse of :func:`torch_rgb_to_lab`; out-of-gamut values are clamped.

    Args:
        lab: float Lab (L in [0, 100], a and b roughly in [-128, 127]), 3 channels on axis ``dim``.
        dim: the channel axis.

    Returns:
        RGB of ``lab``'s shape and dtype, in [0, 1].

    Raises:
        DataError: axis ``dim`` does not hold 3 channels.
    """
    import torch

    _check_channels(lab, dim, "lab")
    lightness, a, b = torch.unbind(lab, dim=dim)
    fy = (lightness + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    f = torch.stack([fx, fy, fz], dim=dim)
    delta = 6.0 / 29.0
    xyz = torch.where(f > delta, f.clamp_min(delta) ** 3, (f - 16.0 / 116.0) / LAB_KAPPA)
    shape = [1] * xyz.ndim
    shape[dim] = 3
    xyz = xyz * _matrix(WHITE_D65, xyz).reshape(shape)
    linear = _apply_matrix(xyz, XYZ_TO_RGB, dim).clamp(0.0, 1.0)
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055, 12.92 * linear)
    return rgb.clamp(0.0, 1.0)


def torch_split_lab(lab: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab -> the networks' scaled input and target.

    Args:
        lab: float Lab, 3 channels on axis ``dim``.
        dim: the channel axis.

    Returns:
        ``(L / 100, ab / 128)``: the lightness in [0, 1] with axis ``dim`` of size 1, and a and b in about
        [-1, 1] with axis ``dim`` of size 2.
    """
    lightness, ab = torch_narrow(lab, dim, 0, 1), torch_narrow(lab, dim, 1, 2)
    return lightness / L_MAX, ab / AB_RANGE


def torch_merge_lab(lightness01: torch.Tensor, ab_scaled: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The inverse of :func:`torch_split_lab`, straight to RGB.

    Args:
        lightness01: float L / 100 in [0, 1], axis ``dim`` of size 1.
        ab_scaled: float ab / 128 (about [-1, 1]), axis ``dim`` of size 2, otherwise ``lightness01``'s shape.
        dim: the channel axis.

    Returns:
        RGB in [0, 1], axis ``dim`` of size 3.
    """
    import torch

    lab = torch.cat([lightness01 * L_MAX, ab_scaled * AB_RANGE], dim=dim)
    return torch_lab_to_rgb(lab, dim=dim)


def torch_narrow(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """``x.narrow`` that accepts a negative ``dim`` (a tiny helper for channel slicing)."""
    return x.narrow(dim if dim >= 0 else x.ndim + dim, start, length)


def torch_rgb_to_lab_channels_last(rgb: torch.Tensor) -> torch.Tensor:
    """:func:`torch_rgb_to_lab` with the channels last: (..., H, W, 3) RGB in [0, 1] -> (..., H, W, 3) Lab."""
    return torch_rgb_to_lab(rgb, dim=-1)


def torch_lab_to_rgb_channels_last(lab: torch.Tensor) -> torch.Tensor:
    """:func:`torch_lab_to_rgb` with the channels last: (..., H, W, 3) Lab -> (..., H, W, 3) RGB in [0, 1]."""
    return torch_lab_to_rgb(lab, dim=-1)
