"""Classical baselines for grey-query retrieval: what a descriptor of lightness alone can do.

A grey query holds only L, so every baseline here looks only at L (CIE lightness) of both the
query and the gallery frame:

- :func:`grey_histogram`: the histogram of L - all that a colour histogram can see of a grey
  frame (square-rooted and L2-normalised, so the dot product is the Bhattacharyya coefficient);
- :func:`hog_descriptor`: a global HOG (Dalal & Triggs; scikit-image) of L at a small fixed size
  - layout and edges, the classical global shape descriptor.

:func:`colour_thumbnail` is not a baseline: it sees the query's colours, which the task does not
have. It serves to find queries whose own pixels are nearer another shot than their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from skimage.feature import hog

from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError


def lightness(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB frames (n, H, W, 3) -> their CIE lightness L in [0, 100], float32 (n, H, W)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"descriptor needs uint8 RGB frames (n, H, W, 3), got {frames.dtype} {frames.shape}")
    return rgb_to_lab(frames)[..., 0].astype(np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def grey_histogram(frames: np.ndarray, bins: int = 32) -> np.ndarray:
    """Histogram of L with ``bins`` bins, square-rooted and L2-normalised (Hellinger)."""
    codes = np.clip((lightness(frames) * bins / 100.0).astype(np.int64), 0, bins - 1)
    hist = np.stack([np.bincount(c.ravel(), minlength=bins) for c in codes]).astype(np.float32)
    return _unit_rows(np.sqrt(hist / hist.sum(axis=1, keepdims=True)))


def hog_descriptor(frames: np.ndarray, size: int = 64, cell: int = 8) -> np.ndarray:
    """Global HOG of L resized to ``size`` x ``size`` (9 orientations, ``cell`` px cells, 2x2 blocks, L2-Hys),
    L2-normalised."""
    return _hog_of_lightness(lightness(frames), size, cell)


def _hog_of_lightness(lum: np.ndarray, size: int, cell: int) -> np.ndarray:
    if size < 2 * cell:
        raise DataError(f"HOG needs size >= 2 cells ({2 * cell} px), got {size}")
    out = []
    for one in lum:
        small = cv2.resize(one, (size, size), interpolation=cv2.INTER_AREA) / 100.0
        out.append(
            hog(small, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), block_norm="L2-Hys")
        )
    return _unit_rows(np.stack(out))


def hog_named(settings: Sequence[tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Each (size, cell) of ``settings`` by the name :func:`hog_grid` gives its vectors, "S px, C px cells"."""
    if not settings:
        raise DataError("no HOG setting given")
    return {f"{size} px, {cell} px cells": (int(size), int(cell)) for size, cell in settings}


def hog_grid(frames: np.ndarray, settings: Sequence[tuple[int, int]], chunk: int = 64) -> dict[str, np.ndarray]:
    """:func:`hog_descriptor` at every (size, cell) of ``settings``, named by :func:`hog_named`: the same vectors,
    with L computed once per frame (the colour conversion costs more than a small HOG), ``chunk`` frames at a time."""
    named = hog_named(settings)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in named}
    for start in range(0, len(frames), chunk):
        lum = lightness(frames[start : start + chunk])
        for name, (size, cell) in named.items():
            parts[name].append(_hog_of_lightness(lum, size, cell))
    return {name: np.concatenate(p) for name, p in parts.items()}


def colour_thumbnail(frames: np.ndarray, size: int = 32) -> np.ndarray:
    """The RGB frame resized to ``size`` x ``size`` (area), minus its mean, L2-normalised: a tiny-image descriptor
    whose cosine is the normalised pixel correlation of two frames, colour included."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"descriptor needs uint8 RGB frames (n, H, W, 3), got {frames.dtype} {frames.shape}")
    if size < 2:
        raise DataError(f"thumbnail side must be at least 2 px, got {size}")
    small = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]).astype(np.float32)
    flat = small.reshape(len(frames), -1)
    return _unit_rows(flat - flat.mean(axis=1, keepdims=True))
