"""The SSDev cut detector on synthetic frame sequences with known cuts."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from scenecolor.core.errors import ParameterError
from scenecolor.scenes.ssim import motion_compensated, ssim_lagged, ssim_pairs
from scenecolor.scenes.ssim_detector import (
    PAPER_RULE,
    Detection,
    SsimConfig,
    SsimCutDetector,
    adaptive_threshold,
    redecide,
    select_cuts,
)

H, W = 48, 64


def texture(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """A smooth random texture in 0..255 (float), different for every seed."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.normal(0, 1, (h + 16, w + 16)).astype(np.float32), (0, 0), 2.5)
    img = (img - img.min()) / (img.max() - img.min()) * 200 + 25
    return img


def shot(seed: int, n: int, noise: float = 1.0, speed: int = 1) -> list[np.ndarray]:
    """``n`` frames panning slowly over one texture, with a little sensor noise."""
    base = texture(seed, h=H + n * speed)
    rng = np.random.default_rng(seed + 1000)
    frames = []
    for t in range(n):
        f = base[t * speed : t * speed + H, 4 : 4 + W] + rng.normal(0, noise, (H, W))
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def detect(frames: list[np.ndarray], **config) -> Detection:
    det = SsimCutDetector(SsimConfig(**config))
    det.start(fps=25.0)
    for f in frames:
        det.push(f)
    return det.finish(len(frames))


# -- SSIM ---------------------------------------------------------------------------------------
def test_ssim_matches_scikit_image_gaussian_ssim():
    frames = np.stack(shot(1, 3, noise=8.0) + shot(2, 2))
    ours = ssim_lagged(frames, lags=(1, 2))
    for lag in (1, 2):
        ref = [
            structural_similarity(
                frames[i],
                frames[i + lag],
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=255,
            )
            for i in range(len(frames) - lag)
        ]
        np.testing.assert_allclose(ours[lag], ref, atol=1e-5)
    np.testing.assert_allclose(ssim_pairs(frames[:2], frames[2:4]), [ours[2][0], ours[2][1]], atol=1e-6)


def test_ssim_of_identical_frames_is_one_and_short_stacks_are_empty():
    f = np.stack(shot(3, 1) * 3)
    np.testing.assert_allclose(ssim_lagged(f)[1], [1.0, 1.0], atol=1e-6)
    assert ssim_lagged(f[:1])[1].size == 0


def test_ssim_rejects_frames_smaller_than_the_window():
    with pytest.raises(ParameterError, match="H, W >= 11"):
        ssim_lagged(np.zeros((3, 8, 64), np.uint8))


# -- the threshold and the decision rule ---------------------------------------------------------
def test_threshold_is_mean_plus_k_population_std():
    values = np.array([0.1, 0.2, 0.3, 0.9])
    assert adaptive_threshold(values, 2.5) == pytest.approx(values.mean() + 2.5 * values.std(ddof=0))
    assert math.isnan(adaptive_threshold(np.array([]), 2.5))


def test_cut_needs_ssdev_strictly_greater_than_threshold():
    ssdev = np.array([0.0] + [0.1] * 19 + [0.9] + [0.1] * 19)
    cuts, thr = select_cuts(ssdev, k=2.5)
    assert cuts == [20]
    assert thr == pytest.approx(ssdev[1:].mean() + 2.5 * ssdev[1:].std())
    # a value equal to the threshold is not a cut (the paper's Step 6 "less than" is corrected to "greater")
    flat = np.zeros(10)
    assert select_cuts(flat, k=2.5) == ([], 0.0)


def test_absolute_floor_stops_a_relative_threshold_firing_on_noise():
    rng = np.random.default_rng(0)
    ssdev = np.concatenate([[0.0], 0.02 + 0.005 * rng.standard_normal(300)])
    assert len(select_cuts(ssdev, k=2.5, min_ssdev=0.0)[0]) > 0  # the paper's rule alone fires
    assert select_cuts(ssdev, k=2.5, min_ssdev=0.25)[0] == []


def test_min_scene_length_keeps_the_stronger_of_close_cuts():
    ssdev = np.zeros(60)
    ssdev[[20, 23, 45]] = [0.6, 0.9, 0.7]
    assert select_cuts(ssdev, k=1.0, min_scene_len=5)[0] == [23, 45]
    assert select_cuts(ssdev, k=1.0, min_scene_len=1)[0] == [20, 23, 45]
    # a cut closer than min_scene_len to frame 0 is dropped too
    early = np.zeros(30)
    early[3] = 0.9
    assert select_cuts(early, k=1.0, min_scene_len=5)[0] == []


def test_local_peak_test_drops_a_hill_of_motion_but_keeps_an_isolated_spike():
    ssdev = np.full(60, 0.05)
    ssdev[0] = 0.0
    ssdev[15:25] = [0.3, 0.4, 0.5, 0.55, 0.6, 0.62, 0.6, 0.55, 0.5, 0.4]  # fast motion: a hill
    ssdev[45] = 0.9  # a cut: a spike
    assert select_cuts(ssdev, k=1.0, min_scene_len=8, peak_ratio=0.0)[0] == [20, 45]
    assert select_cuts(ssdev, k=1.0, min_scene_len=8, peak_ratio=1.5)[0] == [45]


def test_redecide_reproduces_the_detector_and_applies_other_rules():
    frames = shot(21, 30) + shot(22, 30)
    frames[10] = np.full((H, W), 250, np.uint8)
    det = detect(frames)
    assert redecide(det, SsimConfig()).cuts == det.cuts == [30]
    paper = redecide(det, SsimConfig(**PAPER_RULE), name="paper")
    assert paper.detector == "paper" and 10 in paper.cuts and 30 in paper.cuts
    assert np.array_equal(paper.scores, det.scores)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(k=0), "'k' = 0: Input should be greater than 0"),
        (dict(k=-1.0), "'k' = -1.0: Input should be greater than 0"),
        (dict(k=float("nan")), "'k' = nan: Input should be a finite number"),
        (dict(min_scene_len=0), "'min_scene_len' = 0: Input should be greater than or equal to 1"),
        (dict(width=5), r"'width' = 5: .*width must be >= 11 pixels \(or 0 = native\)"),
        (dict(min_ssdev=-0.1), "'min_ssdev' = -0.1: Input should be greater than or equal to 0"),
        (dict(batch=0), "'batch' = 0: Input should be greater than or equal to 1"),
        (dict(peak_ratio=-1.0), "'peak_ratio' = -1.0: Input should be greater than or equal to 0"),
        (dict(motion_ratio=-0.1), "'motion_ratio' = -0.1: Input should be greater than or equal to 0"),
        (dict(motion_ratio=1.5), "'motion_ratio' = 1.5: Input should be less than or equal to 1"),
        (dict(motion_ratio=float("nan")), "'motion_ratio' = nan: Input should be a finite number"),
        (dict(motion_ratio="on"), "'motion_ratio' = 'on': Input should be a valid number"),
        (dict(flash_filter="yes"), "'flash_filter' = 'yes': Input should be a valid boolean"),
        (dict(sensitivity=3), "unknown parameter 'sensitivity' \\(allowed: k, width, "),
    ],
)
def test_bad_parameters_raise_a_clear_value_error(bad, message):
    with pytest.raises(ParameterError, match=message) as info:
        SsimConfig(**bad)
    assert isinstance(info.value, ValueError)


# -- the detector on synthetic videos -----------------------------------------------------------
def test_hard_cuts_are_found_at_the_exact_frames():
    frames = shot(10, 30) + shot(20, 25) + shot(30, 35)
    result = detect(frames)
    assert result.cuts == [30, 55]
    assert result.n_frames == 90 and len(result.scores) == 90 and result.scores[0] == 0.0
    assert [s["start"] for s in result.scenes()] == [0, 30, 55]
    assert [s["end"] for s in result.scenes()] == [30, 55, 90]
    assert all(s["start"] <= s["keyframe"] < s["end"] for s in result.scenes())


def test_constant_video_has_no_cut():
    frames = [shot(5, 1, noise=0.0)[0]] * 40
    result = detect(frames)
    assert result.cuts == []
    assert result.threshold == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(result.scores, 0.0, atol=1e-6)


def test_static_noisy_clip_has_no_cut_only_thanks_to_the_floor():
    base = texture(7)[:H, :W]
    rng = np.random.default_rng(1)
    frames = [np.clip(base + rng.normal(0, 6, (H, W)), 0, 255).astype(np.uint8) for _ in range(200)]
    assert detect(frames).cuts == []
    assert detect(frames, peak_ratio=0.0, flash_filter=False).cuts == []  # the floor alone suffices
    assert len(detect(frames, **PAPER_RULE).cuts) > 0  # the paper's rule alone fires


def test_single_frame_video_opens_one_scene_and_has_no_threshold():
    result = detect(shot(4, 1))
    assert result.cuts == [] and math.isnan(result.threshold)
    assert result.to_json() == {"cuts": [], "n_frames": 1, "fps": 25.0, "threshold": None}
    assert result.scenes() == [{"start": 0, "end": 1, "keyframe": 0}]


def test_one_frame_flash_is_not_a_cut_unless_the_filter_is_off():
    frames = shot(8, 40) + shot(9, 30)
    frames[20] = np.full((H, W), 250, np.uint8)  # a flash: one white frame inside the first shot
    assert detect(frames).cuts == [40]
    unfiltered = detect(frames, flash_filter=False, min_scene_len=1).cuts
    assert 20 in unfiltered and 40 in unfiltered


def test_fade_through_black_gives_at_most_one_cut_inside_the_fade():
    a, b = shot(11, 40), shot(12, 40)
    for j in range(10):  # 10 frames out, 10 frames in
        a[30 + j] = (a[30 + j] * (1 - (j + 1) / 11)).astype(np.uint8)
        b[j] = (b[j] * ((j + 1) / 11)).astype(np.uint8)
    result = detect(shot(13, 30) + a + b)  # a hard cut at 30, the fade over frames 60-79
    assert 30 in result.cuts
    rest = [c for c in result.cuts if c != 30]
    assert len(rest) <= 1 and all(58 <= c <= 81 for c in rest)


def test_batch_size_does_not_change_the_scores():
    frames = shot(14, 23) + shot(15, 20)
    frames[10] = np.full((H, W), 240, np.uint8)
    small, large = detect(frames, batch=1), detect(frames, batch=64)
    np.testing.assert_allclose(small.scores, large.scores, atol=1e-9)
    assert small.cuts == large.cuts == [23]


def test_memory_stays_bounded_by_the_batch():
    det = SsimCutDetector(SsimConfig(batch=16))
    det.start(25.0)
    frame = shot(16, 1)[0]
    for _ in range(500):
        det.push(frame)
        assert len(det._pending) + len(det._carry) <= 16 + 2
    assert len(det.finish(500).scores) == 500


def test_frame_step_reports_cuts_in_video_frame_indices():
    frames = shot(17, 33) + shot(18, 30)
    det = SsimCutDetector(SsimConfig())
    det.start(25.0, step=3)
    for f in frames[::3]:
        det.push(f)
    result = det.finish(len(frames))
    assert result.cuts == [33]
    assert list(result.frame_index[:3]) == [0, 3, 6]


# -- fast camera motion inside one shot (issue 14) ---------------------------------------------
def photo_shot(name: str, speeds: list[float], h: int = 72, w: int = 128, seed: int = 0) -> list[np.ndarray]:
    """A hand-held shot over a real photograph (scikit-image's sample data): the camera pans
    ``speeds[t]`` pixels during frame t, with the motion blur a shutter open for the whole frame
    gives, a slow vertical sway and sensor noise."""
    from skimage import data

    photo = cv2.resize(
        cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2GRAY), (1024, 256), interpolation=cv2.INTER_AREA
    )
    rng = np.random.default_rng(seed)
    x, frames = 0.0, []
    for v in speeds:
        subs = [
            cv2.warpAffine(photo, np.float32([[1, 0, -(x + v * k / 8)], [0, 1, -60 + 3 * np.sin(x / 40)]]), (w, h))
            for k in range(8)
        ]
        frames.append(np.clip(np.mean(subs, axis=0) + rng.normal(0, 1.5, (h, w)), 0, 255).astype(np.uint8))
        x += v
    return frames


# slow drift, a one-frame jerk (frame 12), slow drift, a ragged whip pan (frames 25-30), slow drift
WHIP = [1.0] * 12 + [16.0] + [1.0] * 12 + [8.0, 40.0, 12.0, 50.0, 15.0, 6.0] + [1.0] * 29


def test_whip_pan_inside_one_shot_is_no_cut_thanks_to_motion_compensation():
    frames = photo_shot("astronaut", WHIP)
    result = detect(frames)
    assert result.cuts == []
    # the ablation: without motion compensation the ragged whip pan passes the local-peak test
    assert detect(frames, motion_ratio=0.0).cuts != []
    assert redecide(result, SsimConfig(motion_ratio=0.0)).cuts == detect(frames, motion_ratio=0.0).cuts
    # compensated SSDev is computed only above the floor, and is far below the raw SSDev there
    moved = result.motion_scores
    computed = np.isfinite(moved)
    assert (result.scores[computed] > SsimConfig().min_ssdev).all() and computed.sum() >= 4
    assert (moved[computed] < 0.75 * result.scores[computed]).all()


def test_hard_cut_right_after_a_whip_pan_is_still_found():
    frames = photo_shot("astronaut", WHIP) + photo_shot("coffee", [1.0] * 30, seed=1)
    assert detect(frames).cuts == [len(WHIP)]


def test_motion_compensation_explains_a_pan_but_not_a_change_of_shot():
    a = photo_shot("astronaut", [12.0, 12.0])
    b = photo_shot("chelsea", [1.0])
    raw_pan = 1 - ssim_pairs(a[0][None], a[1][None])[0]
    pan = 1 - ssim_pairs(motion_compensated(a[0], a[1])[None], a[1][None])[0]
    raw_cut = 1 - ssim_pairs(a[1][None], b[0][None])[0]
    cut = 1 - ssim_pairs(motion_compensated(a[1], b[0])[None], b[0][None])[0]
    assert pan < 0.4 * raw_pan
    assert cut > 0.75 * raw_cut
    assert motion_compensated(a[0], a[1]).shape == a[1].shape and motion_compensated(a[0], a[1]).dtype == np.uint8


def test_select_cuts_motion_test_and_its_ablation():
    ssdev = np.full(60, 0.05)
    ssdev[0] = 0.0
    ssdev[[20, 45]] = [0.8, 0.9]  # two isolated spikes
    moved = np.full(60, np.nan)
    moved[[20, 45]] = [0.1, 0.85]  # the flow explains the first (a jerk of the camera), not the second
    assert select_cuts(ssdev, k=1.0, motion_ssdev=moved, motion_ratio=0.4)[0] == [45]
    assert select_cuts(ssdev, k=1.0, motion_ssdev=moved, motion_ratio=0.0)[0] == [20, 45]
    assert select_cuts(ssdev, k=1.0)[0] == [20, 45]
    # NaN (not computed) keeps the candidate
    assert select_cuts(ssdev, k=1.0, motion_ssdev=np.full(60, np.nan), motion_ratio=0.4)[0] == [20, 45]


@pytest.mark.parametrize(
    "value, ok", [(0.0, True), (0.4, True), (1.0, True), (-0.1, False), (1.2, False), ("high", False)]
)
def test_notebook_02_motion_ratio_parameter_is_validated(value, ok):
    from scenecolor.workbook.pipeline import validate_params

    if ok:
        assert validate_params("02_scene_analysis", {"motion_ratio": value}).motion_ratio == value
    else:
        with pytest.raises(ParameterError, match="motion_ratio"):
            validate_params("02_scene_analysis", {"motion_ratio": value})
