"""Synthetic camera motion over a real photograph: pan, zoom, slight rotation, lighting drift.

The embedded data set has only a handful of real shots, so each real photograph also becomes
short clips filmed by a virtual camera. The pixels are real; the motion is not, and every clip
made here is labelled ``synthetic_motion`` downstream. A clip is fully determined by its
:class:`CameraPath` (drawn from a seeded generator), so the same seed renders the same frames.

The virtual camera looks at a window of the photo with the output's aspect ratio. The window's
centre, zoom and angle move smoothly (cosine easing) from a start to an end pose chosen so the
rotated window stays inside the photo for the whole clip: no border is ever invented.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from scenecolor.core.errors import DataError

MAX_ROTATION_DEG = 3.0
ZOOM_RANGE = (1.0, 1.35)  # 1 = the largest window that fits (times BASE_FILL)
GAIN_RANGE = (0.85, 1.15)  # brightness drift
TINT_RANGE = 0.04  # +-4 % red/blue white-balance drift
BASE_FILL = 0.92  # leave a margin so rotation and pan have room


@dataclass(frozen=True)
class CameraPath:
    """Start and end pose of the virtual camera; everything in between is eased."""

    pan_start: tuple[float, float]  # window centre as a fraction (0..1) of its feasible range
    pan_end: tuple[float, float]
    zoom_start: float
    zoom_end: float
    angle_start: float  # degrees
    angle_end: float
    gain_start: float
    gain_end: float
    tint_start: float  # + warms (more red, less blue), - cools
    tint_end: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def random_path(rng: np.random.Generator) -> CameraPath:
    """Draw a camera path: a clear pan or zoom, plus a slight rotation and a lighting drift."""
    style = rng.choice(["pan", "zoom_in", "zoom_out", "pan_zoom"])
    zoom_a = float(rng.uniform(*ZOOM_RANGE))
    if style in ("zoom_in", "zoom_out", "pan_zoom"):
        zoom_b = float(np.clip(zoom_a + rng.choice([-1, 1]) * rng.uniform(0.15, 0.3), *ZOOM_RANGE))
        if style == "zoom_in":
            zoom_a, zoom_b = min(zoom_a, zoom_b), max(zoom_a, zoom_b)
        elif style == "zoom_out":
            zoom_a, zoom_b = max(zoom_a, zoom_b), min(zoom_a, zoom_b)
    else:
        zoom_b = zoom_a
    if style in ("pan", "pan_zoom"):
        start = rng.uniform(0.0, 0.3, size=2)
        end = rng.uniform(0.7, 1.0, size=2)
        flip = rng.random(2) < 0.5
        start, end = np.where(flip, 1 - start, start), np.where(flip, 1 - end, end)
    else:
        start = rng.uniform(0.35, 0.65, size=2)
        end = np.clip(start + rng.uniform(-0.1, 0.1, size=2), 0.0, 1.0)
    return CameraPath(
        pan_start=(float(start[0]), float(start[1])),
        pan_end=(float(end[0]), float(end[1])),
        zoom_start=zoom_a,
        zoom_end=zoom_b,
        angle_start=float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)),
        angle_end=float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)),
        gain_start=float(rng.uniform(*GAIN_RANGE)),
        gain_end=float(rng.uniform(*GAIN_RANGE)),
        tint_start=float(rng.uniform(-TINT_RANGE, TINT_RANGE)),
        tint_end=float(rng.uniform(-TINT_RANGE, TINT_RANGE)),
    )


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _base_window(photo_w: int, photo_h: int, aspect: float) -> tuple[float, float]:
    """Width and height (photo pixels) of the largest window of ``aspect`` that fits, times BASE_FILL."""
    w = min(photo_w, photo_h * aspect) * BASE_FILL
    return w, w / aspect


def _half_extent(win_w: float, win_h: float, zoom: float, angle_deg: float) -> tuple[float, float]:
    """Half width/height of the axis-aligned box around the rotated, zoomed window."""
    hx, hy = win_w / (2 * zoom), win_h / (2 * zoom)
    c, s = abs(math.cos(math.radians(angle_deg))), abs(math.sin(math.radians(angle_deg)))
    return hx * c + hy * s, hx * s + hy * c


def render_clip(photo: np.ndarray, path: CameraPath, n_frames: int, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield ``n_frames`` RGB uint8 frames (height, width, 3) filmed over ``photo`` along ``path``.

    Raises:
        DataError: when the photo is not RGB uint8 or the sizes are not positive.
    """
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise DataError(f"camera motion needs an RGB uint8 photo (H, W, 3), got {photo.dtype} {photo.shape}")
    if n_frames < 1 or width < 2 or height < 2:
        raise DataError(f"clip must have >= 1 frame and a size >= 2x2, got {n_frames} frames of {width}x{height}")
    aspect = width / height
    ph, pw = photo.shape[:2]
    win_w, win_h = _base_window(pw, ph, aspect)
    # pre-shrink big photos so the warp never decimates by more than ~1.5x (no aliasing)
    shrink = min(1.0, 1.5 * width / win_w)
    if shrink < 1.0:
        photo = cv2.resize(
            photo, (max(2, round(pw * shrink)), max(2, round(ph * shrink))), interpolation=cv2.INTER_AREA
        )
        ph, pw = photo.shape[:2]
        win_w, win_h = win_w * shrink, win_h * shrink
    # the feasible centre range at the worst pose of the clip (least zoom, most rotation)
    worst_zoom = min(path.zoom_start, path.zoom_end)
    worst_angle = max(abs(path.angle_start), abs(path.angle_end))
    ex, ey = _half_extent(win_w, win_h, worst_zoom, worst_angle)
    lo_x, hi_x = ex, max(ex, pw - ex)
    lo_y, hi_y = ey, max(ey, ph - ey)
    photo_f = photo.astype(np.float32)
    for i in range(n_frames):
        t = _ease(i / max(1, n_frames - 1))
        ux = path.pan_start[0] + (path.pan_end[0] - path.pan_start[0]) * t
        uy = path.pan_start[1] + (path.pan_end[1] - path.pan_start[1]) * t
        cx, cy = lo_x + ux * (hi_x - lo_x), lo_y + uy * (hi_y - lo_y)
        zoom = path.zoom_start + (path.zoom_end - path.zoom_start) * t
        angle = math.radians(path.angle_start + (path.angle_end - path.angle_start) * t)
        scale = (win_w / zoom) / width  # photo pixels per output pixel
        cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
        # output (x, y) -> photo: centre + R(angle) * scale * ((x, y) - output centre)
        ox, oy = (width - 1) / 2, (height - 1) / 2
        m = np.array([[cos, -sin, cx - cos * ox + sin * oy], [sin, cos, cy - sin * ox - cos * oy]], dtype=np.float64)
        frame = cv2.warpAffine(
            photo_f,
            m,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        gain = path.gain_start + (path.gain_end - path.gain_start) * t
        tint = path.tint_start + (path.tint_end - path.tint_start) * t
        frame *= np.array([gain * (1 + tint), gain, gain * (1 - tint)], dtype=np.float32)
        yield np.clip(frame + 0.5, 0, 255).astype(np.uint8)
