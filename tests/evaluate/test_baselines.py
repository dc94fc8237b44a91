"""scenecolor.evaluate.baselines on tiny Lab arrays."""

from __future__ import annotations

import numpy as np
import pytest

from scenecolor.core.errors import DataError
from scenecolor.evaluate.baselines import (
    GrayOutput,
    ReinhardTransfer,
    WelshTransfer,
    baseline_methods,
    reinhard_transfer,
)


def _lab(L: np.ndarray, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    L = np.asarray(L, dtype=np.float64)
    return np.stack([L, np.broadcast_to(a, L.shape), np.broadcast_to(b, L.shape)], axis=-1)


def _two_region(h: int = 20, w: int = 20, dark: float = 20.0, bright: float = 80.0) -> np.ndarray:
    """Left half dark, right half bright (lightness only)."""
    L = np.full((h, w), dark)
    L[:, w // 2 :] = bright
    return L


def test_gray_output_is_zero_ab():
    L = np.full((2, 5, 6), 50.0)
    refs = _lab(np.full((1, 4, 4), 50.0), 30.0, -10.0)
    ab = GrayOutput()(L, refs)
    assert ab.shape == (2, 5, 6, 2) and ab.dtype == np.float32
    assert not ab.any()


def test_reinhard_on_gray_target_paints_mean_reference_ab():
    L = np.linspace(0, 100, 2 * 3 * 4).reshape(2, 3, 4)
    ref1 = _lab(np.full((2, 2), 40.0), 10.0, -20.0)  # 4 pixels
    ref2 = _lab(np.full((2, 2), 60.0), 30.0, 0.0)  # 4 pixels
    ab = ReinhardTransfer()(L, np.stack([ref1, ref2]))
    assert ab.shape == (2, 3, 4, 2)
    np.testing.assert_allclose(ab[..., 0], 20.0)  # pooled mean of a: (10 + 30) / 2
    np.testing.assert_allclose(ab[..., 1], -10.0)
    assert "mean ref ab" in ReinhardTransfer().name


def test_reinhard_transfer_matches_reference_statistics_on_a_colour_target():
    rng = np.random.default_rng(0)
    target = _lab(rng.uniform(20, 60, (8, 8)), rng.normal(5, 2, (8, 8)), rng.normal(-3, 4, (8, 8)))
    ref = _lab(rng.uniform(30, 90, (6, 6)), rng.normal(-20, 10, (6, 6)), rng.normal(15, 6, (6, 6)))[None]
    out = reinhard_transfer(target, ref).reshape(-1, 3)
    np.testing.assert_allclose(out.mean(axis=0), ref.reshape(-1, 3).mean(axis=0), atol=1e-3)
    np.testing.assert_allclose(out.std(axis=0), ref.reshape(-1, 3).std(axis=0), rtol=1e-4)


def test_welsh_matches_by_luminance_after_remapping():
    # Reference: dark half red-ish, bright half blue-ish. Target: same layout but other
    # lightness levels (35 / 65): the remapping to the target's statistics still pairs dark
    # with dark and bright with bright.
    ref = _lab(_two_region(), 0.0, 0.0)
    ref[:, :10, 1:] = (40.0, 10.0)
    ref[:, 10:, 1:] = (-30.0, -25.0)
    target = _two_region(dark=35.0, bright=65.0)[None]
    ab = WelshTransfer(n_samples=100, window=3, seed=0)(target, ref[None])
    interior = slice(3, -3)
    np.testing.assert_allclose(ab[0, interior, 2:7], np.broadcast_to([40.0, 10.0], (14, 5, 2)))
    np.testing.assert_allclose(ab[0, interior, 13:18], np.broadcast_to([-30.0, -25.0], (14, 5, 2)))


def test_welsh_uses_all_references_and_is_deterministic():
    rng = np.random.default_rng(1)
    refs = np.stack(
        [
            _lab(rng.uniform(0, 100, (12, 12)), rng.integers(-50, 50, (12, 12)), rng.integers(-50, 50, (12, 12)))
            for _ in range(2)
        ]
    )
    L = rng.uniform(0, 100, (3, 10, 11))
    method = WelshTransfer(n_samples=30, seed=7)
    ab = method(L, refs)
    assert ab.shape == (3, 10, 11, 2) and ab.dtype == np.float32
    np.testing.assert_array_equal(ab, method(L, refs))  # same seed, same output
    ref_colours = {tuple(c) for c in refs[..., 1:].reshape(-1, 2)}
    out_colours = {tuple(c) for c in ab.reshape(-1, 2).astype(np.float64)}
    assert out_colours <= ref_colours  # every output colour is a reference sample
    Ls, _, abs_ = method.samples(refs)
    assert [len(x) for x in Ls] == [30, 30]
    from_second = {tuple(c) for c in abs_[1]}
    assert out_colours & from_second  # the second reference contributes colours
    assert not np.array_equal(ab, WelshTransfer(n_samples=30, seed=8)(L, refs))


def test_welsh_flat_reference_does_not_divide_by_zero():
    ref = _lab(np.full((6, 6), 50.0), 12.0, 7.0)[None]
    ab = WelshTransfer(n_samples=9)(np.linspace(0, 100, 2 * 6 * 6).reshape(2, 6, 6), ref)
    np.testing.assert_allclose(ab[..., 0], 12.0)
    np.testing.assert_allclose(ab[..., 1], 7.0)


def test_baseline_methods_order_and_names():
    names = [m.name for m in baseline_methods()]
    assert names[0].startswith("Welsh") and names[1].startswith("Reinhard") and names[2].startswith("gray")


@pytest.mark.parametrize("method", [GrayOutput(), ReinhardTransfer(), WelshTransfer(n_samples=4)])
@pytest.mark.parametrize(
    "L, refs, match",
    [
        (np.zeros((4, 4)), np.zeros((1, 4, 4, 3)), r"L: expected .*\(T,H,W\)"),
        (np.zeros((1, 4, 4)), np.zeros((4, 4, 3)), r"refs_lab: .*\(R,H,W,3\)"),
        (np.zeros((1, 4, 4)), np.zeros((0, 4, 4, 3)), "R >= 1"),
        (np.zeros((1, 4, 4)), np.zeros((1, 4, 4, 2)), r"\(R,H,W,3\)"),
    ],
)
def test_bad_inputs_raise_data_error(method, L, refs, match):
    with pytest.raises(DataError, match=match):
        method(L, refs)


def test_welsh_bad_parameters():
    with pytest.raises(DataError, match="n_samples"):
        WelshTransfer(n_samples=0)
    with pytest.raises(DataError, match="odd"):
        WelshTransfer(window=4)


def test_only_gray_ignores_references():
    assert [m.needs_references for m in baseline_methods()] == [True, True, False]
