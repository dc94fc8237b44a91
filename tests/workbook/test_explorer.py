"""scenecolor.workbook.explorer: notebook 05's reference explorer on a tiny store of real photographs.

The store (tests/helpers/colorizer.py) holds eight single-shot videos of 5 frames (32 x 32): shots s0..s4
train (frame ids 0..24), s5, s6 val, s7 test (ids 35..39). The test video has two scenes: the test shot's
frames and then train shot s1's; an untrained narrow colorizer runs at 32 px.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from helpers.colorizer import build_photo_store
from scenecolor.colorize.backend import TorchColorizer
from scenecolor.colorize.model import SceneColorizer
from scenecolor.colorize.train import TrainConfig
from scenecolor.colorize.verify import VerifyConfig, verify_references
from scenecolor.core.color8 import lab_to_rgb8
from scenecolor.core.errors import DataError
from scenecolor.evaluate import metrics
from scenecolor.evaluate.protocol import ColorizerMethod, EvalVideo, ReferenceTable
from scenecolor.workbook import explorer as X

TEST_SHOT = list(range(35, 40))  # s7, the test split
CHELSEA = list(range(5, 10))  # s1, train


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_photo_store(tmp_path_factory.mktemp("store") / "frames", size=32, frames_per_shot=5)


@pytest.fixture(scope="module")
def video(store) -> EvalVideo:
    frames = np.concatenate([store.uint8(TEST_SHOT), store.uint8(CHELSEA)])
    return EvalVideo("tv", frames, 25.0, [(0, 5), (5, 10)], [(0, 5), (5, 10)], np.arange(10), [0, 1])


@pytest.fixture(scope="module")
def refs() -> ReferenceTable:
    """Scene 0: in_domain = other frames of its own shot, open = first frames of train shots; scene 1: its own
    shot in both pools (a train shot)."""
    chosen = {
        (0, "in_domain"): [36, 38, 39],
        (0, "open"): [0, 10, 15],
        (1, "in_domain"): [6, 8, 9],
        (1, "open"): [6, 8, 0],
    }
    rows = [
        {
            "query_kind": "scene",
            "video_id": "tv",
            "scene": scene,
            "pool": pool,
            "rank": k + 1,
            "ref_frame_id": f,
            "score": round(0.9 - 0.1 * k, 3),
        }  # fmt: skip
        for (scene, pool), ids in chosen.items()
        for k, f in enumerate(ids)
    ]
    return ReferenceTable(pd.DataFrame(rows).sort_values("rank").reset_index(drop=True))


@pytest.fixture(scope="module")
def backend() -> TorchColorizer:
    torch.manual_seed(0)
    return TorchColorizer(SceneColorizer(TrainConfig(resolution=32, width=0.125).model_config()), clip_len=3)


def _method(backend, threshold: float = 0.15) -> ColorizerMethod:
    return ColorizerMethod(backend, clip_len=3, verify=VerifyConfig(threshold=threshold))


def test_the_view_holds_the_scene_its_references_and_its_scores(store, video, refs, backend):
    method = _method(backend)
    view = X.scene_view(video, 0, "in_domain", None, refs=refs, store=store, method=method, n_refs=3)
    assert view.frames == (0, 5) and view.shown.tolist() == [0, 2, 4] and view.key == 1
    for name in ("grey", "colorized", "truth"):
        arr = getattr(view, name)
        assert arr.shape == (3, 32, 32, 3) and arr.dtype == np.uint8, name
    np.testing.assert_array_equal(view.truth, video.frames[[0, 2, 4]])
    assert np.abs(view.grey.astype(int) - view.grey[..., :1]).max() <= 2  # grey: R = G = B up to rounding
    assert [r.frame_id for r in view.references] == [36, 38, 39]
    assert [r.rank for r in view.references] == [1, 2, 3]
    assert [r.retrieval_score for r in view.references] == pytest.approx([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(view.references[1].rgb, store.uint8([38])[0])
    direct = verify_references(video.lab[[0, 2, 4], ..., 0], store.lab([36, 38, 39]), method.verify)
    assert [r.match for r in view.references] == pytest.approx(direct.scores.tolist())
    assert [r.kept for r in view.references] == direct.keep.tolist()
    # the scores are the whole scene's, against the truth, as notebook 05 computes them
    ab = method(video.lab[0:5, ..., 0], store.lab([36, 38, 39])[direct.keep])
    rgb = lab_to_rgb8(np.concatenate([video.lab[0:5, ..., :1], ab], -1))
    assert view.psnr == pytest.approx(float(np.mean(metrics.psnr(video.frames[0:5], rgb))))
    assert view.ssim == pytest.approx(float(np.mean(metrics.ssim(video.frames[0:5], rgb))))
    assert math.isfinite(view.psnr_grey) and view.seconds > 0
    table = view.table()
    assert table["frame_id"].tolist() == [36, 38, 39] and table["slot"].tolist() == [1, 2, 3]
    assert "tv scene 0 (in_domain pool, 5 frames)" in view.summary()
    assert method.last_verdict is not None  # the call above; the view used a copy of the method


def test_the_same_shot_matches_better_than_other_footage(store, video, refs, backend):
    same = X.scene_view(video, 0, "in_domain", None, refs=refs, store=store, method=_method(backend), n_refs=3)
    other = X.scene_view(video, 0, "open", None, refs=refs, store=store, method=_method(backend), n_refs=3)
    assert min(r.match for r in same.references) > max(r.match for r in other.references)
    assert all(r.kept for r in same.references)


def test_swapping_a_reference_changes_the_colorized_scene(store, video, refs, backend):
    trust_all = _method(backend, threshold=0.0)
    own = X.scene_view(video, 0, "in_domain", [36], refs=refs, store=store, method=trust_all)
    swapped = X.scene_view(video, 0, "in_domain", [0], refs=refs, store=store, method=trust_all)
    assert np.abs(own.colorized.astype(int) - swapped.colorized.astype(int)).mean() > 1.0
    assert own.psnr != swapped.psnr
    (r,) = swapped.references
    assert r.frame_id == 0 and r.rank == 0 and math.isnan(r.retrieval_score) and r.shot_id == "s0"


def test_a_scene_with_no_verified_reference_gets_the_grey_fallback(store, video, refs, backend):
    method = _method(backend, threshold=1.0)  # nothing matches every pixel
    view = X.scene_view(video, 0, "in_domain", [36, 0], refs=refs, store=store, method=method)
    assert view.fallback == "grey" and not any(r.kept for r in view.references)
    np.testing.assert_array_equal(view.colorized, view.grey)
    assert view.psnr == pytest.approx(view.psnr_grey)
    assert "grey fallback" in view.summary()
    tint = ColorizerMethod(
        backend, clip_len=3, verify=VerifyConfig(threshold=1.0, fallback="prior"), prior=np.array([20.0, 30.0])
    )
    tinted = X.scene_view(video, 0, "in_domain", [36, 0], refs=refs, store=store, method=tint)
    assert tinted.fallback == "prior" and "prior fallback" in tinted.summary()
    assert np.abs(tinted.colorized.astype(int) - tinted.grey.astype(int)).mean() > 2.0


def test_without_verification_every_reference_is_kept_and_still_scored(store, video, refs, backend):
    view = X.scene_view(
        video, 1, "open", None, refs=refs, store=store, method=ColorizerMethod(backend, clip_len=3), n_refs=3
    )
    assert all(r.kept for r in view.references) and view.fallback == ""
    assert all(0.0 <= r.match <= 1.0 for r in view.references)
    assert view.references[0].match > view.references[2].match  # its own shot against the astronaut


@pytest.mark.parametrize(
    "scene,pool,ids,message",
    [
        (0, "in_domain", [36, 999], "reference frame 999 is not in the frame store"),
        (0, "in_domain", [-1], "reference frame -1 is not in the frame store"),
        (0, "open", [0, 36], r"reference frame 36 \(test split\) is not in the 'open' pool"),
        (0, "in_domain", [], "no reference chosen"),
        (0, "in_domain", [36] * 6, "at most 5"),
        (3, "in_domain", [36], r"no evaluated scene 3; its scenes are \[0, 1\]"),
        (0, "nowhere", [36], "no 'nowhere' pool"),
    ],
)
def test_bad_choices_raise_a_clear_error(store, video, refs, backend, scene, pool, ids, message):
    with pytest.raises(DataError, match=message):
        X.scene_view(video, scene, pool, ids, refs=refs, store=store, method=_method(backend))


def test_candidates_list_the_retrievals_then_other_pool_frames(store, refs):
    c = X.candidates(refs, store, "tv", 0, "open", n_others=6)
    assert c["frame_id"].tolist()[:3] == [0, 10, 15] and c["rank"].tolist()[:3] == [1, 2, 3]
    assert c["score"].iloc[:3].tolist() == pytest.approx([0.9, 0.8, 0.7])
    others = c.iloc[3:]
    assert len(others) == 6 and (others["rank"] == 0).all() and others["score"].isna().all()
    assert (others["split"] == "train").all() and c["frame_id"].is_unique  # the open pool: train frames only
    assert others["frame_id"].min() <= 2 and others["frame_id"].max() >= 22  # spread over the pool
    assert c["label"].iloc[0] == "#0 s0 (rank 1, score 0.900)" and "not retrieved" in c["label"].iloc[-1]
    every = X.candidates(refs, store, "tv", 0, "in_domain", n_others=100)
    assert len(every) == len(store) and set(every["split"]) == {"train", "val", "test"}
    assert len(X.candidates(refs, store, "tv", 0, "in_domain", n_others=0)) == 3
    with pytest.raises(DataError, match="no 'open' references for scene 5"):
        X.candidates(refs, store, "tv", 5, "open")


def test_the_figure_is_about_1000_px_wide_with_legible_text(store, video, refs, backend):
    view = X.scene_view(video, 0, "open", None, refs=refs, store=store, method=_method(backend), n_refs=3)
    fig = X.plot_view(view)
    try:
        assert fig.get_size_inches()[0] == pytest.approx(9.5)
        texts = [t for t in fig.findobj(plt.Text) if t.get_text()]
        assert texts and min(t.get_fontsize() for t in texts) >= 9
        titles = [ax.get_title() for ax in fig.axes]
        assert any(t.startswith("ref 1: #0\ns0\nrank 1, score 0.900\nmatch") for t in titles)
        assert sum(t.startswith("colorized") for t in titles) == 3 and sum(t.startswith("truth") for t in titles) == 3
    finally:
        plt.close(fig)


def test_the_widget_builds_without_a_front_end_and_its_button_colorizes_again(store, video, refs, backend):
    ex = X.ReferenceExplorer([video], refs, store, _method(backend), ["in_domain", "open"], n_refs=3, n_others=4)
    assert [s.value for s in ex.slots] == [36, 38, 39] and ex.view.scene_id == 0
    first_png, first_scores = ex.image.value, ex.scores.value
    assert first_png[:8] == b"\x89PNG\r\n\x1a\n" and "PSNR" in first_scores
    outside = [v for _, v in ex.slots[0].options if v not in (X.NONE, 36, 38, 39)][0]
    ex.slots[0].value = outside
    ex.slots[2].value = X.NONE
    assert ex.view.references[0].frame_id == 36  # nothing runs before the button
    ex.button.click()
    assert [r.frame_id for r in ex.view.references] == [outside, 38]
    assert ex.image.value != first_png and ex.scores.value != first_scores
    assert f"<td>{outside}</td>" in ex.scores.value
    shown = ex.view
    for slot in ex.slots:
        slot.value = X.NONE
    ex.button.click()  # nothing to colorize with: said where the scores go, the last view stays
    assert ex.view is shown and "no reference chosen" in ex.scores.value
    ex.scene.value = ("tv", 1)  # a new scene: its own retrievals in the slots, colorized at once
    assert [s.value for s in ex.slots] == [6, 8, 9] and ex.view.scene_id == 1
    ex.pool.value = "open"
    assert [s.value for s in ex.slots] == [6, 8, 0] and ex.view.pool == "open"
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Reference explorer: open this notebook in JupyterLab")


def test_the_widget_starts_on_a_given_view_without_colorizing_again(store, video, refs, backend):
    view = X.scene_view(video, 1, "open", [8, 0], refs=refs, store=store, method=_method(backend))
    ex = X.ReferenceExplorer([video], refs, store, _method(backend), ["in_domain", "open"], n_refs=3, initial=view)
    assert ex.view is view and ex.scene.value == ("tv", 1) and ex.pool.value == "open"
    assert [s.value for s in ex.slots] == [8, 0, X.NONE]
    with pytest.raises(DataError, match="at least one test video"):
        X.ReferenceExplorer([], refs, store, _method(backend), ["open"])
