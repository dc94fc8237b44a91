"""scenecolor.evaluate.metrics on small hand-computed arrays, and SSIM/PSNR against scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from scenecolor.core.errors import DataError
from scenecolor.evaluate import metrics as M


def _flat(value: int, shape=(2, 2, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=np.uint8)


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    """K all 10; Q all 8 except one value 4: eleven differences of 2 and one of 6."""
    k = _flat(10)
    q = _flat(8)
    q[1, 1, 2] = 4
    return k, q


def test_hand_computed_values(pair):
    k, q = pair
    m = {
        name: float(fn(k, q)[0])
        for name, fn in [
            ("AD", M.average_difference),
            ("RMSE", M.rmse),
            ("MD", M.max_difference),
            ("SC", M.structural_content),
            ("NAE", M.normalized_absolute_error),
            ("NCC", M.normalized_cross_correlation),
            ("PSNR", M.psnr),
            ("PCC", M.pearson_correlation),
        ]
    }
    assert m["AD"] == pytest.approx(28 / 12)
    assert m["RMSE"] == pytest.approx(math.sqrt(80 / 12))
    assert m["MD"] == 6
    assert m["SC"] == pytest.approx(1200 / 720)  # sum K^2 / sum Q^2 = 12*100 / (11*64 + 16)
    assert m["NAE"] == pytest.approx(28 / 120)
    assert m["NCC"] == pytest.approx((11 * 80 + 40) / 1200)
    assert m["PSNR"] == pytest.approx(10 * math.log10(255**2 / (80 / 12)))
    assert math.isnan(m["PCC"])  # K is constant: correlation undefined


def test_ad_is_signed():
    assert M.average_difference(_flat(10), _flat(14))[0] == pytest.approx(-4)
    assert M.average_difference(_flat(14), _flat(10))[0] == pytest.approx(4)


def test_pcc_hand_computed_and_extremes():
    k = np.array([[[1, 2, 3]]], dtype=np.uint8)
    q = np.array([[[1, 3, 2]]], dtype=np.uint8)
    assert M.pearson_correlation(k, q)[0] == pytest.approx(0.5)  # centred (-1,0,1).(-1,1,0) / 2
    rng = np.random.default_rng(1)
    x = rng.integers(0, 100, (5, 6, 3), dtype=np.uint8)
    assert M.pearson_correlation(x, (2 * x + 3).astype(np.uint8))[0] == pytest.approx(1.0)
    assert M.pearson_correlation(x, (255 - x).astype(np.uint8))[0] == pytest.approx(-1.0)


def test_identical_frames_are_perfect():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    m = M.image_metrics(x, x.copy())
    assert m["AD"] == 0 and m["RMSE"] == 0 and m["MD"] == 0 and m["NAE"] == 0
    assert m["SC"] == pytest.approx(1) and m["NCC"] == pytest.approx(1)
    assert m["SSIM"] == pytest.approx(1) and m["PCC"] == pytest.approx(1)
    assert m["PSNR"] == math.inf


def test_average_over_frames():
    k = np.stack([_flat(10, (12, 12, 3)), _flat(10, (12, 12, 3))])
    q = np.stack([_flat(10, (12, 12, 3)), _flat(6, (12, 12, 3))])
    per = M.per_frame_metrics(k, q)
    np.testing.assert_allclose(per["AD"], [0, 4])
    np.testing.assert_allclose(per["MD"], [0, 4])
    assert per["PSNR"][0] == math.inf
    assert M.image_metrics(k, q)["AD"] == pytest.approx(2)
    assert M.image_metrics(k, q)["RMSE"] == pytest.approx(2)  # mean of per-frame RMSE (0 and 4)


def test_ssim_and_psnr_match_skimage():
    rng = np.random.default_rng(0)
    k = rng.integers(0, 256, (3, 24, 31, 3), dtype=np.uint8)
    q = np.clip(k.astype(int) + rng.integers(-40, 40, k.shape), 0, 255).astype(np.uint8)
    ours_ssim = M.ssim(k, q)
    ours_psnr = M.psnr(k, q)
    for i in range(3):
        ref = structural_similarity(
            k[i], q[i], channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        assert ours_ssim[i] == pytest.approx(ref, abs=1e-5)
        assert ours_psnr[i] == pytest.approx(peak_signal_noise_ratio(k[i], q[i], data_range=255), abs=1e-10)


def test_ssim_constant_frames():
    assert M.ssim(_flat(50, (12, 12, 3)), _flat(50, (12, 12, 3)))[0] == pytest.approx(1.0)
    assert M.ssim(_flat(0, (12, 12, 3)), _flat(255, (12, 12, 3)))[0] < 0.01


def test_ssim_rejects_frames_smaller_than_window():
    with pytest.raises(DataError, match="at least 11x11"):
        M.ssim(_flat(1, (8, 8, 3)), _flat(1, (8, 8, 3)))


def test_nae_of_black_original_is_undefined():
    assert math.isnan(M.normalized_absolute_error(_flat(0), _flat(0))[0])
    assert M.normalized_absolute_error(_flat(0), _flat(5))[0] == math.inf


@pytest.mark.parametrize(
    "k, q, match",
    [
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8), "uint8"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8), "differ in shape"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), r"\(H,W,3\)"),
        (np.zeros((2, 4, 4, 4), np.uint8), np.zeros((2, 4, 4, 4), np.uint8), r"\(T,H,W,3\)"),
        ([[1, 2, 3]], np.zeros((1, 1, 3), np.uint8), "numpy array"),
    ],
)
def test_bad_inputs_raise_data_error(k, q, match):
    with pytest.raises(DataError, match=match):
        M.image_metrics(k, q)


# -- temporal ---------------------------------------------------------------------------------
def _tcvc_cdc(frames: np.ndarray, dilations=(1, 2, 4)) -> float:
    """Independent re-statement of TCVC's cdc.py for one clip (scipy.stats.entropy, per channel)."""

    def js(p, q):
        m = (p + q) / 2
        return 0.5 * stats.entropy(p, m) + 0.5 * stats.entropy(q, m)

    h, w = frames.shape[1:3]
    hists = [[np.histogram(f[..., c], bins=256, range=(0, 256))[0] / (h * w) for c in range(3)] for f in frames]
    per_channel = []
    for c in range(3):
        total = 0.0
        for d in dilations:
            total += np.mean([js(hists[i][c], hists[i + d][c]) for i in range(len(frames) - d)]) / len(dilations)
        per_channel.append(total)
    return float(np.mean(per_channel))


def test_cdc_disjoint_histograms_is_ln2():
    clip = np.stack([_flat(0), _flat(255)])
    assert M.cdc(clip) == pytest.approx(math.log(2))  # only d = 1 has a pair


def test_cdc_hand_computed_half_overlap():
    a = _flat(0, (2, 2, 3))
    b = a.copy()
    b[0] = 255  # half the pixels move to 255
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert M.cdc(np.stack([a, b])) == pytest.approx(expected)
    assert M.js_divergence(np.array([1.0, 0]), np.array([0.5, 0.5])) == pytest.approx(expected)


def test_cdc_matches_tcvc_definition_and_static_clip_is_zero():
    rng = np.random.default_rng(3)
    clip = rng.integers(0, 256, (7, 10, 9, 3), dtype=np.uint8)
    assert M.cdc(clip) == pytest.approx(_tcvc_cdc(clip), rel=1e-9)
    assert M.cdc(np.repeat(clip[:1], 6, axis=0)) == 0.0


def test_cdc_short_clip_drops_missing_dilations():
    rng = np.random.default_rng(4)
    clip = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)  # d = 4 has no pair
    assert M.cdc(clip) == pytest.approx(_tcvc_cdc(clip, dilations=(1, 2)))


def test_cdc_bad_inputs():
    with pytest.raises(DataError, match="at least 2 frames"):
        M.cdc(_flat(3)[None])
    with pytest.raises(DataError, match="uint8"):
        M.cdc(np.zeros((3, 4, 4, 3), np.float32))
    with pytest.raises(DataError, match="one weight per dilation"):
        M.cdc(np.zeros((3, 4, 4, 3), np.uint8), dilations=(1, 2), weights=(1.0,))


def test_ab_temporal_metrics_hand_computed():
    true = np.zeros((3, 2, 2, 2))
    true[1] = 2.0  # changes by 2 then back by 2
    pred = np.zeros((3, 2, 2, 2))
    pred[2] = 6.0  # still, then jumps by 6
    m = M.ab_temporal_metrics(true, pred)
    assert m["dAB_gt"] == pytest.approx(2.0)
    assert m["dAB"] == pytest.approx(3.0)  # (0 + 6) / 2
    assert m["dAB_err"] == pytest.approx((2 + 8) / 2)  # |0-2|, |6-(-2)|
    assert M.ab_change(pred) == pytest.approx(3.0)


def test_ab_temporal_bad_inputs():
    with pytest.raises(DataError, match=r"\(T,H,W,2\)"):
        M.ab_change(np.zeros((3, 2, 2, 3)))
    with pytest.raises(DataError, match="at least 2 frames"):
        M.ab_change(np.zeros((1, 2, 2, 2)))
    with pytest.raises(DataError, match="differ in shape"):
        M.ab_temporal_metrics(np.zeros((3, 2, 2, 2)), np.zeros((3, 2, 3, 2)))


def test_colorfulness_gray_is_zero_and_colour_is_positive():
    gray = np.repeat(np.arange(0, 250, 10, dtype=np.uint8)[None, :, None], 3, axis=2)[None]
    assert M.colorfulness(gray) == pytest.approx(0.0)
    red = np.zeros((1, 4, 4, 3), np.uint8)
    red[..., 0] = 200
    # rg = 200, yb = 100, no spread: 0.3 * sqrt(200^2 + 100^2)
    assert M.colorfulness(red) == pytest.approx(0.3 * math.hypot(200, 100))


def test_finite_mean_skips_nan_keeps_inf():
    assert M.finite_mean([1.0, math.nan, 3.0]) == 2.0
    assert M.finite_mean([1.0, math.inf]) == math.inf
    assert math.isnan(M.finite_mean([math.nan]))
