"""scenecolor.core.color8 (8-bit sRGB <-> Lab by lookup tables) against scikit-image through scenecolor.core.color."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scenecolor.core.color import lab_to_rgb, rgb_to_lab
from scenecolor.core.color8 import _CODE_THRESHOLDS, _GRID, lab_to_rgb8, rgb8_to_lab
from scenecolor.core.errors import DataError


def _all_colours() -> np.ndarray:
    """Every 8-bit RGB colour on a 52-step grid (about 140k colours), as one image."""
    v = np.arange(0, 256, 5, dtype=np.uint8)
    return np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(-1, 52, 3)


def test_rgb8_to_lab_matches_scikit_image():
    rgb = _all_colours()
    np.testing.assert_allclose(rgb8_to_lab(rgb), rgb_to_lab(rgb), atol=2e-3)


def test_round_trip_is_exact_on_8_bit_colours():
    rgb = _all_colours()
    np.testing.assert_array_equal(lab_to_rgb8(rgb8_to_lab(rgb)), rgb)


def test_lab_to_rgb8_matches_scikit_image_out_of_gamut_too():
    rng = np.random.default_rng(0)
    lab = np.stack([rng.uniform(0, 100, 200_000), rng.uniform(-128, 127, 200_000), rng.uniform(-128, 127, 200_000)], -1)
    lab = lab.reshape(-1, 500, 3).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = (np.clip(lab_to_rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)
    diff = np.abs(lab_to_rgb8(lab).astype(int) - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4  # float32 vs float64 rounding at ties only


def test_grid_is_finer_than_the_code_thresholds():
    assert np.diff(_CODE_THRESHOLDS).min() > 1.0 / _GRID


def test_bad_inputs():
    with pytest.raises(DataError, match="uint8"):
        rgb8_to_lab(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(DataError, match="3 channels"):
        lab_to_rgb8(np.zeros((2, 2, 2), np.float32))


def test_lightness_alone_is_the_first_channel_of_the_full_conversion() -> None:
    from scenecolor.core.color8 import rgb8_lightness

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(7, 33, 3), dtype=np.uint8)
    rgb[0, :3] = [[0, 0, 0], [255, 255, 255], [1, 1, 1]]  # black, white, the darkest grey (linear part of f)
    assert np.allclose(rgb8_lightness(rgb), rgb8_to_lab(rgb)[..., 0], atol=1e-4)
    with pytest.raises(DataError, match="uint8 RGB"):
        rgb8_lightness(rgb.astype(np.float32))
