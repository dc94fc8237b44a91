"""RGB <-> CIE Lab: NumPy against scikit-image, torch against NumPy, round trips and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skcolor

from scenecolor.core import color
from scenecolor.core.errors import DataError


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.random((2, 9, 11, 3)).astype(np.float32)
    img[0, 0, 0] = (0, 0, 0)
    img[0, 0, 1] = (1, 1, 1)
    img[0, 0, 2] = (1, 0, 0)
    return img


def test_numpy_matches_skimage_and_round_trips(rgb: np.ndarray) -> None:
    lab = color.rgb_to_lab(rgb)
    assert lab.dtype == np.float32 and lab.shape == rgb.shape
    np.testing.assert_allclose(lab, skcolor.rgb2lab(rgb), atol=1e-3)
    np.testing.assert_allclose(color.lab_to_rgb(lab), rgb, atol=1e-4)
    assert lab[0, 0, 0] == pytest.approx([0, 0, 0], abs=1e-3)  # black
    assert lab[0, 0, 1] == pytest.approx([100, 0, 0], abs=1e-2)  # D65 white
    assert lab[0, 0, 2, 1] > 75 and lab[0, 0, 2, 2] > 60  # pure red: large +a, +b
    assert 0 <= lab[..., 0].min() and lab[..., 0].max() <= 100


def test_uint8_input_is_scaled(rgb: np.ndarray) -> None:
    as_u8 = (rgb * 255).round().astype(np.uint8)
    np.testing.assert_allclose(color.rgb_to_lab(as_u8), color.rgb_to_lab(as_u8.astype(np.float32) / 255), atol=1e-4)
    gray = color.rgb_to_gray(as_u8)
    assert gray.shape == as_u8.shape[:-1] and 0 <= gray.min() and gray.max() <= 1


def test_merge_l_ab(rgb: np.ndarray) -> None:
    lab = color.rgb_to_lab(rgb)
    np.testing.assert_allclose(color.merge_l_ab(lab[..., 0], lab[..., 1:]), rgb, atol=1e-4)
    with pytest.raises(DataError, match="ab must be"):
        color.merge_l_ab(lab[..., 0], lab)


def test_torch_channels_first_matches_numpy_and_round_trips(rgb: np.ndarray) -> None:
    x = torch.tensor(rgb, dtype=torch.float64).permute(0, 3, 1, 2)  # [B,3,H,W]
    lab = color.torch_rgb_to_lab(x)
    assert lab.shape == x.shape
    np.testing.assert_allclose(lab.permute(0, 2, 3, 1).numpy(), color.rgb_to_lab(rgb), atol=1e-3)
    np.testing.assert_allclose(color.torch_lab_to_rgb(lab).numpy(), x.numpy(), atol=1e-6)


def test_torch_channels_last_and_5d_clips(rgb: np.ndarray) -> None:
    x = torch.tensor(rgb)
    lab_last = color.torch_rgb_to_lab_channels_last(x)
    np.testing.assert_allclose(lab_last.numpy(), color.rgb_to_lab(rgb), atol=2e-3)
    np.testing.assert_allclose(color.torch_lab_to_rgb_channels_last(lab_last).numpy(), rgb, atol=1e-4)
    clip = x.permute(3, 0, 1, 2).unsqueeze(0)  # [B,C,T,H,W]
    lab_clip = color.torch_rgb_to_lab(clip, dim=1)
    np.testing.assert_allclose(lab_clip[0].permute(1, 2, 3, 0).numpy(), lab_last.numpy(), atol=1e-5)


def test_torch_split_and_merge(rgb: np.ndarray) -> None:
    x = torch.tensor(rgb).permute(0, 3, 1, 2)
    l01, ab = color.torch_split_lab(color.torch_rgb_to_lab(x))
    assert l01.shape == (2, 1, 9, 11) and ab.shape == (2, 2, 9, 11)
    assert 0 <= float(l01.min()) and float(l01.max()) <= 1 and float(ab.abs().max()) <= 1
    np.testing.assert_allclose(color.torch_merge_lab(l01, ab).numpy(), x.numpy(), atol=1e-4)


def test_torch_gradients_are_finite_everywhere() -> None:
    # black, white, and values at the piecewise thresholds are where naive code gives NaN
    values = torch.tensor([0.0, 1.0, 0.04045, 0.0031308, 0.5, 1e-6], dtype=torch.float64)
    x = values[:, None, None, None].expand(6, 3, 2, 2).clone().requires_grad_(True)
    lab = color.torch_rgb_to_lab(x)
    (lab**2).sum().backward()
    assert torch.isfinite(x.grad).all()
    y = torch.tensor(
        [[[[50.0]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]]]], dtype=torch.float64, requires_grad=True
    )
    color.torch_lab_to_rgb(y).sum().backward()
    assert torch.isfinite(y.grad).all()
    assert torch.autograd.gradcheck(
        color.torch_rgb_to_lab, (torch.rand(1, 3, 2, 2, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    )


def test_wrong_channel_counts_raise() -> None:
    with pytest.raises(DataError, match="3 channels"):
        color.rgb_to_lab(np.zeros((4, 4, 2), np.float32))
    with pytest.raises(DataError, match="3 channels"):
        color.lab_to_rgb(np.zeros((4, 4)))
    with pytest.raises(DataError, match="axis 1"):
        color.torch_rgb_to_lab(torch.zeros(1, 4, 2, 2))
    with pytest.raises(DataError, match="axis -1"):
        color.torch_lab_to_rgb(torch.zeros(2, 2, 1), dim=-1)


def test_torch_lightness_is_the_first_lab_channel():
    import torch

    x = torch.rand(2, 3, 7, 5)
    x[0, :, 0, 0] = 0.0  # black: the linear toe of both curves
    got = color.torch_rgb_to_lightness(x, dim=1)
    assert got.shape == (2, 1, 7, 5)
    assert torch.allclose(got, color.torch_rgb_to_lab(x, dim=1)[:, :1], atol=1e-5)
    last = color.torch_rgb_to_lightness(x.movedim(1, -1), dim=-1)
    assert torch.allclose(last[..., 0], got[:, 0], atol=1e-5)
    with pytest.raises(DataError, match="3 channels"):
        color.torch_rgb_to_lightness(torch.rand(2, 4, 3, 3))


def test_lightness_of_uint8_reads_the_same_curve_from_a_table():
    import torch

    rgb8 = torch.randint(0, 256, (2, 3, 9, 7), dtype=torch.uint8)
    rgb8[0, :, 0, 0] = 0  # black (linear toe) and white
    rgb8[0, :, 0, 1] = 255
    got = color.torch_srgb8_to_lightness(rgb8, dim=1)
    assert got.shape == (2, 1, 9, 7)
    assert torch.allclose(got, color.torch_rgb_to_lightness(rgb8.float() / 255.0, dim=1), atol=1e-4)
    assert got[0, 0, 0, 0].abs() < 1e-4 and (got[0, 0, 0, 1] - 100.0).abs() < 1e-3
    with pytest.raises(DataError, match="uint8"):
        color.torch_srgb8_to_lightness(rgb8.float())
    with pytest.raises(DataError, match="3 channels"):
        color.torch_srgb8_to_lightness(torch.zeros(1, 4, 2, 2, dtype=torch.uint8))
