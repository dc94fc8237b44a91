"""The learned colour prior: fitted deterministically on train frames, chosen on val frames, stored and read back
safely, and used as the fallback of a scene whose references all fail verification."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from scenecolor.colorize import model as C
from scenecolor.colorize.backend import TorchColorizer
from scenecolor.colorize.prior import (
    PRIOR_FILE,
    ColourPrior,
    fit_store_prior,
    learn_prior,
    mean_ab_table,
    read_prior,
    write_prior,
)
from scenecolor.colorize.train import TrainConfig
from scenecolor.colorize.verify import VerifyConfig, fallback_ab
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.color8 import lab_to_rgb8
from scenecolor.core.errors import DataError, MissingUpstreamError
from scenecolor.evaluate import metrics as M
from scenecolor.evaluate.protocol import ColorizerMethod

S = 64


def _pan(image: np.ndarray, n: int, step: int, start: int = 0, side: int = 256) -> np.ndarray:
    """``n`` Lab frames (n, S, S, 3) of a camera panning right over ``image`` by ``step`` pixels per frame."""
    img = cv2.resize(image, (side + 16 * abs(step) + 2 * side // 2, side), interpolation=cv2.INTER_AREA)
    crops = [img[:, start + t * step : start + t * step + side] for t in range(n)]
    return rgb_to_lab(np.stack([cv2.resize(c, (S, S), interpolation=cv2.INTER_AREA) for c in crops]))


def _psnr_of(lab_true: np.ndarray, ab: np.ndarray) -> float:
    truth = lab_to_rgb8(lab_true)
    out = lab_to_rgb8(np.concatenate([lab_true[..., :1], ab], -1))
    return float(np.mean(M.per_frame_metrics(truth, out)["PSNR"]))


def _tinted(n: int, seed: int) -> np.ndarray:
    """Lab frames whose ab follows L: bright pixels warm (a, b > 0), dark ones cool, plus noise."""
    rng = np.random.default_rng(seed)
    L = rng.uniform(5, 95, (n, 16, 16)).astype(np.float32)
    ab = np.stack([(L - 50) * 0.3, (L - 50) * 0.4], -1) + rng.normal(0, 8, (n, 16, 16, 2))
    return np.concatenate([L[..., None], ab], -1).astype(np.float32)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    """Training frames (pans over three photographs), validation frames (a fourth), and a generated test clip of
    a fifth, unrelated photograph with three unrelated references."""
    train = np.concatenate([_pan(im, 3, 40) for im in (skdata.coffee(), skdata.chelsea(), skdata.rocket())])
    val = _pan(skdata.immunohistochemistry(), 3, 40)
    clip = _pan(skdata.astronaut(), 6, 4)
    refs = np.stack([_pan(im, 1, 0, start=60)[0] for im in (skdata.coffee(), skdata.chelsea(), skdata.rocket())])
    return {"train": train, "val": val, "clip": clip, "refs": refs}


def test_the_table_is_the_mean_ab_per_lightness_bin_and_region() -> None:
    lab = np.zeros((1, 4, 4, 3), np.float32)
    lab[0, :2, :, 0], lab[0, 2:, :, 0] = 15.0, 85.0  # top dark, bottom bright
    lab[0, :2, :, 1], lab[0, 2:, :, 1] = -6.0, 12.0
    one = mean_ab_table(lab, grid=1, bins=10)
    assert one.shape == (1, 1, 10, 2) and one[0, 0, 1, 0] == -6.0 and one[0, 0, 8, 0] == 12.0
    assert one[0, 0, 5, 0] == 0.0  # a lightness no pixel has: grey
    two = mean_ab_table(lab, grid=2, bins=10)
    assert two[1, 0, 1, 0] == -6.0  # the bottom cells have no dark pixel: the bin's mean over the frame
    prior = ColourPrior(one, 1.0)
    ab = prior.ab(lab[..., 0])
    assert ab.shape == (1, 4, 4, 2) and np.allclose(ab[0, 0, 0], [-6.0, 0.0]) and np.allclose(ab[0, 3, 0], [12, 0])


def test_the_prior_is_learned_deterministically_and_beats_grey_on_validation() -> None:
    train, val = _tinted(8, 0), _tinted(4, 1)
    a, b = learn_prior(train, val), learn_prior(train, val)
    assert np.array_equal(a.table, b.table) and a.shrink == b.shrink and a.val_gain_db == b.val_gain_db
    assert a.shrink > 0 and a.val_gain_db > 0.5
    grey = _psnr_of(val, np.zeros((*val.shape[:3], 2), np.float32))
    assert _psnr_of(val, a.ab(val[..., 0])) == pytest.approx(grey + a.val_gain_db, abs=1e-3)
    assert a.shrink <= 0.5  # never more than half the training mean


def test_a_held_out_source_that_would_lose_limits_the_shrink() -> None:
    """Validation alone asks for the strongest tint; a training source whose colours run the other way, held out
    of the table, may lose at most tolerance_db - so the chosen shrink is smaller, or grey."""
    train, val = _tinted(12, 0), _tinted(4, 1)
    free = learn_prior(train, val)
    odd = train.copy()
    odd[:4, ..., 1:] *= -1  # one source of the training frames is coloured the other way round
    groups = ["odd"] * 4 + ["a"] * 4 + ["b"] * 4
    held = learn_prior(odd, val, train_groups=groups, tolerance_db=0.5)
    assert held.shrink < free.shrink
    looser = learn_prior(odd, val, train_groups=groups, tolerance_db=50.0)
    assert looser.shrink > held.shrink
    with pytest.raises(DataError, match="one group per frame"):
        learn_prior(train, val, train_groups=["a"])


def test_a_prior_that_would_hurt_on_validation_shrinks_to_grey() -> None:
    train, val = _tinted(8, 0), _tinted(4, 1)
    val[..., 1:] *= -1  # validation colours are the opposite of training's
    prior = learn_prior(train, val)
    assert prior.shrink == 0.0 and not prior.table.any() and prior.val_gain_db == 0.0


def test_unrelated_references_only_give_the_prior_no_worse_than_half_a_db_below_grey(photos) -> None:
    """A generated clip, references from other photographs only: verification drops them all and the learned
    fallback (fitted on yet other photographs) is no more than 0.5 dB below grey - here it is above it (+1.9 dB):
    the prior is faint colour, not a reference's wrong one."""
    prior = learn_prior(photos["train"], photos["val"])
    torch.manual_seed(0)
    backend = TorchColorizer(C.SceneColorizer(TrainConfig(resolution=32, width=0.125).model_config()), clip_len=3)
    clip = photos["clip"]
    L = clip[..., 0]
    method = ColorizerMethod(backend, clip_len=3, verify=VerifyConfig(fallback="learned"), prior=prior)
    ab = method(L, photos["refs"])
    assert not method.last_verdict.any_kept
    assert np.array_equal(ab, prior.ab(L)) and not method.last_confidence.any()
    grey = _psnr_of(clip, np.zeros((*L.shape, 2), np.float32))
    gain = _psnr_of(clip, ab) - grey
    assert gain >= -0.5 and gain > 0 and np.abs(ab).max() > 0.5


def test_the_learned_fallback_needs_its_prior_and_the_lightness() -> None:
    cfg = VerifyConfig(fallback="learned")
    with pytest.raises(DataError, match="colour prior"):
        fallback_ab((2, 4, 4), cfg, None, np.zeros((2, 4, 4)))
    prior = ColourPrior(np.ones((1, 1, 4, 2), np.float32), 0.5)
    with pytest.raises(DataError, match="lightness"):
        fallback_ab((2, 4, 4), cfg, prior)
    assert np.allclose(fallback_ab((2, 4, 4), cfg, prior, np.full((2, 4, 4), 50.0)), 1.0)


def test_the_prior_file_round_trips_and_a_missing_or_corrupt_one_is_refused(tmp_path: Path) -> None:
    prior = learn_prior(_tinted(8, 0), _tinted(4, 1))
    path = write_prior(tmp_path / PRIOR_FILE, prior)
    back = read_prior(path)
    assert np.array_equal(back.table, prior.table) and back.shrink == prior.shrink
    assert back.val_gain_db == prior.val_gain_db
    with pytest.raises(DataError, match="does not exist; learn it again"):
        read_prior(tmp_path / "none.npz")
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="cannot be read"):
        read_prior(tmp_path / "cut.npz")
    bad = dict(np.load(path))
    bad["table"] = bad["table"] + 1.0
    np.savez(tmp_path / "edited.npz", **bad)
    with pytest.raises(DataError, match="corrupt"):
        read_prior(tmp_path / "edited.npz")
    bad["format"] = np.int64(99)
    np.savez(tmp_path / "future.npz", **bad)
    with pytest.raises(DataError, match="format 99"):
        read_prior(tmp_path / "future.npz")


class _Store:
    """The part of a FrameStore that fit_store_prior reads: frames, and an index of their split and source."""

    def __init__(self, splits: dict[str, np.ndarray]) -> None:
        import pandas as pd

        self.frames = np.concatenate(list(splits.values()))
        split = np.concatenate([[k] * len(v) for k, v in splits.items()])
        self.index = pd.DataFrame(
            {"frame_id": np.arange(len(split)), "split": split, "source": [f"v{i % 3}" for i in range(len(split))]}
        )

    def ids(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.index["split"].to_numpy() == split)

    def lab(self, ids: np.ndarray) -> np.ndarray:
        return self.frames[ids]


def test_the_store_prior_never_reads_test_frames_and_a_failure_keeps_the_old_file(tmp_path: Path) -> None:
    train, val = _tinted(8, 0), _tinted(4, 1)
    poisoned = np.full_like(val, np.nan)  # test frames: reading any of them would make the table non-finite
    path = tmp_path / PRIOR_FILE
    prior = fit_store_prior(_Store({"train": train, "val": val, "test": poisoned}), path)  # type: ignore[arg-type]
    groups = [f"v{i % 3}" for i in range(len(train) + len(val))]
    expected = learn_prior(train, val, train_groups=groups[: len(train)], val_groups=groups[len(train) :])
    assert np.array_equal(prior.table, expected.table) and prior.shrink > 0
    before = path.read_bytes()
    with pytest.raises(DataError, match="val frames"):
        fit_store_prior(_Store({"train": train, "test": val}), path)  # type: ignore[arg-type]
    assert path.read_bytes() == before


def test_a_run_without_a_prior_names_the_step_and_the_grey_choice(tmp_path: Path) -> None:
    from scenecolor.workbook import runs

    (tmp_path / "artifacts" / "04_colorizer_training").mkdir(parents=True)
    with pytest.raises(MissingUpstreamError, match="04_colorizer_training.*--fallback grey"):
        runs.colour_prior(tmp_path)
    assert runs.fallback_prior(tmp_path, "grey") is None
    write_prior(tmp_path / "artifacts" / "04_colorizer_training" / PRIOR_FILE, ColourPrior(np.zeros((1, 1, 2, 2)), 0))
    assert isinstance(runs.fallback_prior(tmp_path, "learned"), ColourPrior)
