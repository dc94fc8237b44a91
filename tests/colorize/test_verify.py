"""Reference verification: a reference of the scene is kept, an unrelated one dropped; grey fallback; settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from scenecolor.colorize import model as C
from scenecolor.colorize.backend import TorchColorizer
from scenecolor.colorize.train import TrainConfig
from scenecolor.colorize.verify import VerifyConfig, fallback_ab, match_map, reference_scores, verify_references
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError, ParameterError
from scenecolor.evaluate import metrics as M
from scenecolor.evaluate.protocol import ColorizerMethod

S = 64


def _pan(image: np.ndarray, n: int, step: int, start: int = 0, side: int = 256) -> np.ndarray:
    """``n`` Lab frames (n, S, S, 3) of a camera panning right over ``image`` by ``step`` pixels per frame."""
    img = cv2.resize(image, (side + 16 * abs(step) + 2 * side // 2, side), interpolation=cv2.INTER_AREA)
    crops = [img[:, start + t * step : start + t * step + side] for t in range(n)]
    return rgb_to_lab(np.stack([cv2.resize(c, (S, S), interpolation=cv2.INTER_AREA) for c in crops]))


@pytest.fixture(scope="module")
def scene() -> dict[str, np.ndarray]:
    """A pan over the astronaut photo (3 grey query frames), another moment of the same pan (the matching
    reference) and three other photographs (unrelated references), all in Lab."""
    astro = _pan(skdata.astronaut(), 4, 6)
    others = [_pan(im, 1, 0)[0] for im in (skdata.coffee(), skdata.chelsea(), skdata.rocket())]
    return {"frames": astro[:3], "match": astro[3], "unrelated": np.stack(others)}


def test_verification_keeps_the_matching_reference_and_drops_unrelated_ones(scene) -> None:
    refs = np.concatenate([scene["unrelated"][:1], scene["match"][None], scene["unrelated"][1:]])
    verdict = verify_references(scene["frames"][..., 0], refs)
    assert verdict.keep.tolist() == [False, True, False, False]
    assert verdict.scores[1] > 3 * verdict.scores[[0, 2, 3]].max()
    assert verdict.scores.dtype == np.float32 and ((verdict.scores >= 0) & (verdict.scores <= 1)).all()
    assert verdict.any_kept and verdict.threshold == VerifyConfig().threshold


def test_photometric_agreement_alone_would_not_separate_them(scene) -> None:
    """The cycle check is what drops an unrelated reference: without it (a huge tolerance) its score rises."""
    loose = VerifyConfig(cycle_tol=1.0)
    strict = reference_scores(scene["frames"][..., 0], scene["unrelated"])
    assert (reference_scores(scene["frames"][..., 0], scene["unrelated"], loose) > 1.5 * strict).all()


def test_a_reference_of_another_size_or_aspect_is_compared_on_the_same_grid(scene) -> None:
    wide = cv2.resize(scene["match"], (96, 54))
    frames = np.stack([cv2.resize(f, (128, 72)) for f in scene["frames"][..., 0]])
    assert verify_references(frames, wide[None]).keep.all()


def test_match_map_is_high_where_the_reference_shows_the_frame(scene) -> None:
    from scenecolor.colorize.correspondence import FlowEngine, normalized_u8

    cfg = VerifyConfig()
    frame, ref = normalized_u8(scene["frames"][0, ..., 0]), normalized_u8(scene["match"][..., 0])
    m = match_map(frame, ref, FlowEngine(cfg.method), cfg)
    assert m.shape == (S, S) and m.dtype == np.float32
    # the reference lies 18 px (at 256) further right: the frame's left strip is not in it
    assert m[:, S // 2 :].mean() > 2 * m[:, :2].mean()


def test_threshold_zero_keeps_every_reference_and_settings_validate(scene) -> None:
    assert verify_references(scene["frames"][..., 0], scene["unrelated"], VerifyConfig(threshold=0)).keep.all()
    for bad, key in (
        ({"threshold": 1.5}, "threshold must be in 0..1"),
        ({"threshold": -0.1}, "threshold must be in 0..1"),
        ({"side": 8}, "side must be 16..512"),
        ({"method": "lucas"}, "flow method"),
        ({"cycle_tol": 0}, "cycle_tol"),
        ({"fallback": "sepia"}, "fallback must be one of"),
    ):
        with pytest.raises(ParameterError, match=key):
            VerifyConfig(**bad)


def test_a_matching_reference_further_along_the_pan_is_kept_and_unrelated_ones_still_go(scene) -> None:
    """The scene's references at two moments of the pan: near (a clear match) and further along it (fewer
    pixels in common, a lower score). Both pass the default settings, the unrelated photographs do not, and
    the scores keep the order of how much of the frame each reference shows."""
    far = _pan(skdata.astronaut(), 1, 0, start=30)[0]
    refs = np.stack([scene["unrelated"][0], far, scene["match"], *scene["unrelated"][1:]])
    verdict = verify_references(scene["frames"][..., 0], refs)
    assert verdict.keep.tolist() == [False, True, True, False, False]
    s = verdict.scores
    assert s[2] > s[1] > 2 * VerifyConfig().threshold > 2 * s[[0, 3, 4]].max()


@pytest.mark.parametrize(
    "query_shape,refs_shape,message",
    [((0, S, S), (1, S, S, 3), "n >= 1"), ((S, S), (1, S, S, 3), "n >= 1"), ((2, S, S), (1, S, S), "Lab references")],
)
def test_bad_inputs_say_what_is_expected(query_shape, refs_shape, message) -> None:
    with pytest.raises(DataError, match=message):
        reference_scores(np.zeros(query_shape, np.float32), np.zeros(refs_shape, np.float32))


@pytest.fixture(scope="module")
def backend() -> TorchColorizer:
    torch.manual_seed(0)
    return TorchColorizer(C.SceneColorizer(TrainConfig(resolution=32, width=0.125).model_config()), clip_len=3)


def _psnr_of(lab_true: np.ndarray, ab: np.ndarray) -> float:
    from scenecolor.core.color8 import lab_to_rgb8

    truth = lab_to_rgb8(lab_true)
    out = lab_to_rgb8(np.concatenate([lab_true[..., :1], ab], -1))
    return float(np.mean(M.per_frame_metrics(truth, out)["PSNR"]))


def test_unrelated_references_only_give_grey_output_and_a_match_gives_colour(backend, scene) -> None:
    """A generated clip (the pan) colorized with unrelated references only: within 1 dB of grey (it is grey);
    with verification off the same references paint it; with the matching reference it is coloured."""
    clip = _pan(skdata.astronaut(), 6, 4)
    L = clip[..., 0]
    grey = _psnr_of(clip, np.zeros((*L.shape, 2), np.float32))
    method = ColorizerMethod(backend, clip_len=3, verify=VerifyConfig())
    ab = method(L, scene["unrelated"])
    assert not method.last_verdict.any_kept
    assert abs(_psnr_of(clip, ab) - grey) <= 1.0
    assert np.array_equal(ab, fallback_ab(L.shape))
    unverified = ColorizerMethod(backend, clip_len=3)(L, scene["unrelated"])
    assert np.abs(unverified).mean() > 1.0
    kept = method(L, np.stack([scene["unrelated"][0], scene["match"]]))
    assert method.last_verdict.keep.tolist() == [False, True] and np.abs(kept).mean() > 1.0


def test_roc_auc_and_the_verification_summary_count_what_was_kept() -> None:
    import pandas as pd

    from scenecolor.evaluate.protocol import roc_auc, verification_summary

    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.1, 0.9, 0.2, 0.8])) == 0.0
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5
    assert np.isnan(roc_auc(np.array([1, 1]), np.array([0.5, 0.4])))
    table = pd.DataFrame(
        {
            "pool": ["in_domain"] * 3 + ["open"] * 2,
            "video_id": ["v"] * 5,
            "scene": [0, 0, 1, 0, 1],
            "score": [0.9, 0.95, 0.8, 0.9, 0.85],
            "match": [0.6, 0.05, 0.4, 0.1, 0.02],
            "kept": [True, False, True, False, False],
            "right_shot": [True, False, True, False, False],
        }
    )
    s = verification_summary(table).set_index("pool")
    assert s.loc["in_domain", ["right_shot", "right_kept", "other", "other_kept"]].tolist() == [2, 2, 1, 0]
    assert s.loc["open", "scenes_none_kept"] == 2 and s.loc["in_domain", "scenes_none_kept"] == 0
    assert s.loc["all", "AUC_match"] == 1.0 and s.loc["all", "AUC_retrieval_score"] == 0.25  # 1.5 of 6 pairs


def test_the_notebook_threshold_parameter_is_validated() -> None:
    from pydantic import ValidationError

    from scenecolor.workbook.params import EvaluationParams

    assert EvaluationParams().verify_threshold == VerifyConfig().threshold
    assert VerifyConfig(fallback=EvaluationParams().verify_fallback).fallback == EvaluationParams().verify_fallback
    for bad in ({"verify_threshold": 1.2}, {"verify_threshold": -0.1}, {"verify_fallback": "sepia"}):
        with pytest.raises(ValidationError):
            EvaluationParams(**bad)


def test_the_prior_fallback_tints_with_part_of_the_pool_mean() -> None:
    from scenecolor.colorize.verify import mean_ab

    pool = np.zeros((2, 4, 4, 3), np.float32)
    pool[..., 1], pool[..., 2] = 6.0, -10.0
    prior = mean_ab(pool)
    assert prior.tolist() == [6.0, -10.0]
    ab = fallback_ab((3, 5, 7), VerifyConfig(fallback="prior", prior_strength=0.5), prior)
    assert ab.shape == (3, 5, 7, 2) and np.allclose(ab[..., 0], 3.0) and np.allclose(ab[..., 1], -5.0)
    assert not fallback_ab((3, 5, 7), VerifyConfig(fallback="grey"), prior).any()
    with pytest.raises(DataError, match="N >= 1"):
        mean_ab(np.zeros((0, 4, 4, 3), np.float32))
    with pytest.raises(ParameterError, match="prior_strength"):
        VerifyConfig(prior_strength=2.0)
