"""Failure shown honestly: per-scene scores against grey, the per-pixel confidence, the worst-scenes figure,
the verdict row of the per-scene target, and figures and videos that stay legible on the page."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from scenecolor.colorize.backend import TorchColorizer, blend_confidence
from scenecolor.colorize.exemplar import colorize_verified
from scenecolor.colorize.verify import VerifyConfig
from scenecolor.core.color import rgb_to_lab
from scenecolor.core.errors import DataError
from scenecolor.evaluate import metrics
from scenecolor.evaluate import protocol as E
from scenecolor.evaluate.baselines import GrayOutput
from scenecolor.workbook import prose, report, verdict
from scenecolor.workbook.evaluate import figures as F
from scenecolor.workbook.pipeline import VideoPlayer

S = 32
RED, BLUE, GREEN = (220, 60, 40), (40, 80, 220), (50, 200, 60)


def _texture(rng: np.random.Generator, colour: tuple[int, int, int], n: int) -> np.ndarray:
    """n uint8 RGB frames of one colour over a shifting random texture."""
    base = rng.uniform(0.4, 1.0, (S + n, S + n))
    return np.stack(
        [np.clip(base[t : t + S, t : t + S, None] * np.array(colour), 0, 255).astype(np.uint8) for t in range(n)]
    )


class _Store:
    """The two calls evaluate() makes of a frame store: frames by id as Lab and as uint8."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames

    def uint8(self, ids: np.ndarray) -> np.ndarray:
        return self.frames[np.asarray(ids, dtype=int)]

    def lab(self, ids: np.ndarray) -> np.ndarray:
        return rgb_to_lab(self.uint8(ids))


class _PaintRefs:
    """A method that paints the references' mean ab everywhere (needs references)."""

    name = "ours"
    needs_references = True

    def __call__(self, L: np.ndarray, refs_lab: np.ndarray) -> np.ndarray:
        ab = np.asarray(refs_lab, dtype=np.float32)[..., 1:].mean(axis=(0, 1, 2))
        return np.broadcast_to(ab, (*L.shape, 2)).astype(np.float32).copy()


@pytest.fixture(scope="module")
def two_scenes():
    """One video of two scenes (red, then blue), a store holding frames of both shots and of a green one, and
    references: in_domain the scene's own shot, open the green shot (wrong colours)."""
    rng = np.random.default_rng(0)
    red, blue, green = (_texture(rng, c, 6) for c in (RED, BLUE, GREEN))
    video = E.EvalVideo(
        "v", np.concatenate([red[:3], blue[:3]]), 25.0, [(0, 3), (3, 6)], [(0, 3), (3, 6)], np.arange(6), [4, 7]
    )
    store = _Store(np.concatenate([red[3:], blue[3:], green]))  # ids 0-2 red, 3-5 blue, 6-11 green
    rows = []
    for sid, own in ((4, [0, 1, 2]), (7, [3, 4, 5])):
        for pool, ids in (("in_domain", own), ("open", [6, 7, 8])):
            rows += [
                {"pool": pool, "video_id": "v", "scene": sid, "rank": k + 1, "ref_frame_id": i, "score": 1.0}
                for k, i in enumerate(ids)
            ]
    refs = E.ReferenceTable(pd.DataFrame(rows))
    result = E.evaluate([video], refs, store, _PaintRefs(), [GrayOutput()], ["in_domain", "open"], [3], 3)
    return video, refs, store, result


# -- per-scene scores ----------------------------------------------------------------------------------
def test_each_scene_is_scored_on_its_own_frames_against_grey(two_scenes) -> None:
    video, refs, store, result = two_scenes
    grey = GrayOutput().name
    table = E.scene_scores([video], result, ["ours"], grey, 3)
    assert len(table) == 2 * 2 * 2  # scenes x pools x methods
    assert set(table.columns) >= {"video_id", "scene", "pool", "method", "PSNR", "SSIM", "n_frames", "PSNR_vs_grey"}
    assert sorted(set(table["scene"])) == [4, 7] and (table["n_frames"] == 3).all()
    assert (table.loc[table["method"] == grey, "PSNR_vs_grey"] == 0).all()
    # the blue scene in the open pool, by hand: the green references' mean ab on the scene's three frames
    row = table[(table["scene"] == 7) & (table["pool"] == "open") & (table["method"] == "ours")].iloc[0]
    ab = _PaintRefs()(video.lab[3:6, ..., 0], store.lab([6, 7, 8]))
    rgb = E.render(E.EvalVideo("s", video.frames[3:6], 25.0, [(0, 3)], [(0, 3)], np.arange(3)), ab)
    expected = np.mean(metrics.per_frame_metrics(video.frames[3:6], rgb)["PSNR"])
    assert row["PSNR"] == pytest.approx(expected, rel=1e-6)
    grey_psnr = table[(table["scene"] == 7) & (table["pool"] == "open") & (table["method"] == grey)].iloc[0]["PSNR"]
    assert row["PSNR_vs_grey"] == pytest.approx(expected - grey_psnr, rel=1e-6)
    ours = table[table["method"] == "ours"].set_index(["pool", "scene"])["PSNR_vs_grey"]
    assert (ours.loc["in_domain"] > 0).all() and (ours.loc["open"] < 0).all()  # right colours help, wrong ones hurt
    # the frame-weighted mean of the scenes is the per-video figure
    per_video = result.rows[(result.rows["method"] == "ours") & (result.rows["pool"] == "open")].iloc[0]["PSNR"]
    assert table[(table["method"] == "ours") & (table["pool"] == "open")]["PSNR"].mean() == pytest.approx(per_video)


def test_the_scene_target_is_computed_not_assumed(two_scenes) -> None:
    video, _, _, result = two_scenes
    table = E.scene_scores([video], result, ["ours"], GrayOutput().name, 3)
    goal = E.scene_target(table, "ours")
    assert list(goal["pool"]) == ["in_domain", "open", "all"]
    worst = table[table["method"] == "ours"]["PSNR_vs_grey"].min()
    overall = goal.iloc[-1]
    assert overall["worst_PSNR_vs_grey"] == pytest.approx(worst) and "(open)" in overall["worst_scene"]
    assert overall["met"] == (worst >= -1.0) and goal.iloc[0]["met"] and goal.iloc[0]["scenes_below"] == 0
    assert E.scene_target(table, "ours", threshold=worst - 0.01).iloc[-1]["met"]
    sentence = prose.worst_scene_reading(goal)
    assert f"{worst:+.2f} dB" in sentence and ("**met**" if overall["met"] else "**not met**") in sentence


def test_scene_scores_name_what_is_missing(two_scenes) -> None:
    video, _, _, result = two_scenes
    with pytest.raises(DataError, match="R = 5"):
        E.scene_scores([video], result, ["ours"], GrayOutput().name, 5)
    with pytest.raises(DataError, match="no per-scene row of 'other'"):
        E.scene_target(E.scene_scores([video], result, ["ours"], GrayOutput().name, 3), "other")


def test_figure_of_ours_minus_grey_marks_the_target(two_scenes) -> None:
    video, _, _, result = two_scenes
    table = E.scene_scores([video], result, ["ours"], GrayOutput().name, 3)
    fig = F.scene_vs_grey(table, "ours")
    axes = fig.axes
    assert len(axes) == 2 and fig.get_size_inches()[0] <= F.PAGE_WIDTH_IN
    for ax, pool in zip(axes, ("in_domain", "open")):
        vals = table[(table["method"] == "ours") & (table["pool"] == pool)]["PSNR_vs_grey"].to_numpy()
        widths = sorted(p.get_width() for p in ax.patches)
        assert widths == pytest.approx(sorted(np.clip(vals, *ax.get_xlim())))
        assert any(np.allclose(line.get_xdata(), -1.0) for line in ax.get_lines())
    _assert_legible(fig)
    plt.close(fig)


# -- the per-pixel confidence ---------------------------------------------------------------------------
def test_blend_confidence_is_the_weighted_candidate_confidence() -> None:
    conf = np.array([[1.0, 0.0, 0.5, 0.2]], np.float32)
    w = np.array([[0.5, 0.5, 0.0, 0.0]], np.float32)
    assert blend_confidence(conf, w) == pytest.approx([0.5])
    with pytest.raises(DataError, match="one shape"):
        blend_confidence(conf, w[:, :3])


def _tiny_backend() -> TorchColorizer:
    import torch

    from scenecolor.colorize.model import SceneColorizer
    from scenecolor.colorize.train import TrainConfig

    torch.manual_seed(0)
    return TorchColorizer(SceneColorizer(TrainConfig(resolution=16, width=0.25).model_config()).eval())


def test_confidence_has_the_scene_shape_and_range_and_is_zero_on_the_fallback() -> None:
    rng = np.random.default_rng(1)
    scene = rgb_to_lab(_texture(rng, RED, 5))
    backend = _tiny_backend()
    out = colorize_verified(backend, scene[..., 0], scene[:2], None, clip_len=3)  # every reference trusted
    assert out.confidence.shape == (5, S, S) and out.confidence.dtype == np.float32
    assert 0.0 <= out.confidence.min() and out.confidence.max() <= 1.0 and out.confidence.max() > 0
    assert out.ab.shape == (5, S, S, 2) and out.verdict is None
    noise = rgb_to_lab(rng.integers(0, 256, (2, S, S, 3), dtype=np.uint8))
    dropped = colorize_verified(backend, scene[..., 0], noise, VerifyConfig(threshold=0.99), clip_len=3)
    assert not dropped.verdict.keep.any()
    assert dropped.confidence.shape == (5, S, S) and not dropped.confidence.any()  # fallback: no support at all
    assert not dropped.ab.any()  # grey fallback
    method = E.ColorizerMethod(backend, clip_len=3, verify=VerifyConfig(threshold=0.99))
    method(scene[..., 0], noise)
    assert method.last_confidence is not None and not method.last_confidence.any()
    with pytest.raises(DataError, match=r"\(T, H, W\)"):
        colorize_verified(backend, scene[0, ..., 0], scene[:2])


# -- the worst scenes -----------------------------------------------------------------------------------
def _case(rng: np.random.Generator, kept: list[bool], vs_grey: float) -> E.SceneCase:
    frames = _texture(rng, BLUE, 3)
    return E.SceneCase(
        video_id="v",
        scene=7,
        pool="open",
        psnr_vs_grey=vs_grey,
        frame=1,
        grey=frames[0],
        ours=frames[1],
        truth=frames[2],
        confidence=rng.uniform(0, 1, (S, S)).astype(np.float32) * any(kept),
        refs=np.stack([_texture(rng, GREEN, 1)[0] for _ in kept]),
        match=np.array([0.4 if k else 0.05 for k in kept], np.float32),
        kept=np.array(kept),
        aspect=16 / 9,
    )


def test_worst_scenes_figure_labels_kept_and_dropped_references() -> None:
    rng = np.random.default_rng(2)
    cases = [_case(rng, [False, False, False], -0.0), _case(rng, [True, False, True], -1.4)]
    fig = F.worst_scenes(cases)
    texts = [t.get_text() for t in fig.findobj(plt.Text)]
    assert sum("DROPPED" in t for t in texts) == 4 and sum("KEPT" in t for t in texts) == 2
    assert any("ref 1: 0.40 KEPT" == t for t in texts) and any("ref 2: 0.05 DROPPED" == t for t in texts)
    assert any("kept: ours is the fallback" in t for t in texts) and any("-1.40 dB" in t for t in texts)
    assert sum(t.startswith("confidence") for t in texts) == 2
    assert fig.get_size_inches()[0] <= F.PAGE_WIDTH_IN
    _assert_legible(fig)
    plt.close(fig)
    reading = prose.worst_cases_reading(cases)
    assert "1 had every reference dropped" in reading and "2 of 3 references kept" in reading
    assert "the grey fallback" in reading and "the learned fallback" in prose.worst_cases_reading(cases, "learned")
    with pytest.raises(ValueError, match="at least one"):
        F.worst_scenes([])


def test_scene_cases_show_ours_again_with_its_confidence(two_scenes) -> None:
    video, refs, store, result = two_scenes
    table = E.scene_scores([video], result, ["ours"], GrayOutput().name, 3)
    worst = table[table["method"] == "ours"].nsmallest(2, "PSNR_vs_grey")
    method = E.ColorizerMethod(_tiny_backend(), clip_len=3, verify=VerifyConfig(threshold=0.99))
    cases = E.scene_cases(worst, [video], refs, store, method, 3)
    assert [(c.scene, c.pool) for c in cases] == list(zip(worst["scene"], worst["pool"]))
    for c in cases:
        assert c.refs.shape == (3, S, S, 3) and c.match.shape == (3,) and not c.kept.any()
        assert c.confidence.shape == (S, S) and not c.confidence.any()
        np.testing.assert_array_equal(c.truth, video.frames[c.frame])
    with pytest.raises(DataError, match="not among"):
        E.scene_cases(worst.assign(scene=99), [video], refs, store, method, 3)


# -- legible figures, native-size videos --------------------------------------------------------------
def _assert_legible(fig: plt.Figure) -> None:
    """Every visible text of the figure is at least MIN_FONT pt, and the figure fits the page width."""
    sizes = [t.get_fontsize() for t in fig.findobj(plt.Text) if t.get_text().strip() and t.get_visible()]
    assert sizes and min(sizes) >= F.MIN_FONT, f"text of {min(sizes)} pt"
    assert fig.get_size_inches()[0] <= F.PAGE_WIDTH_IN + 1e-6


def test_side_by_side_and_frame_strip_fit_the_page_with_legible_labels(two_scenes) -> None:
    video, refs, store, result = two_scenes
    wide = E.EvalVideo("v", video.frames, 25.0, video.scenes, video.steady, video.source_frames, [4, 7], 2.4)
    methods = ["ours (a long gloss that is cut)", GrayOutput().name]
    res = E.EvaluationResult(
        result.rows,
        {(m, "v"): result.outputs[("ours", "v")] for m in methods},
        {"v": [store.uint8([0, 1, 2]), store.uint8([3, 4, 5])]},
    )
    for fig in (F.side_by_side([wide], res, methods, max_rows=2), F.frame_strip(wide, res, methods, n=6)):
        _assert_legible(fig)
        assert not any("long gloss" in t.get_text() for t in fig.findobj(plt.Text))
        plt.close(fig)


def test_videos_play_at_native_size_never_pixelated(tmp_path) -> None:
    html = VideoPlayer(tmp_path / "v.mp4", tmp_path / "v.png").html(src="v.mp4", poster="v.png")
    style = html.split('style="')[1].split('"')[0]
    assert "pixelated" not in html and "max-width:100%" in style
    assert not any(p.strip().startswith("width") for p in style.split(";")), "a width scales the video up"
    assert "pixelated" not in report._CSS and "image-rendering" not in report._CSS


# -- the verdict row ------------------------------------------------------------------------------------
def _results(value: float | None) -> dict:
    metrics_ = [] if value is None else [{"name": "worst_scene_PSNR_vs_grey", "value": value, "unit": "dB"}]
    return {"05_evaluation": {"metrics": metrics_, "tables": [], "figures": [], "videos": []}}


def test_the_verdict_has_a_row_for_the_per_scene_target() -> None:
    rule = next(r for r in verdict.RULES if r.id == "worst_scene_vs_grey")
    assert rule.kind == "target" and rule.step == "05_evaluation" and rule.threshold == E.SCENE_TARGET_DB
    met = verdict.evaluate(rule, _results(-0.4))
    assert met.status == "met" and met.measured == pytest.approx(-0.4)
    assert verdict.evaluate(rule, _results(-1.0)).status == "met"  # exactly 1 dB below grey is allowed
    assert verdict.evaluate(rule, _results(-1.3)).status == "not met"
    assert verdict.evaluate(rule, _results(None)).status == "not measured"
    assert rule.show(0.5) == "+0.5 dB" and "-1 dB" in rule.rule_text()


def test_notebook_04_shows_a_validation_frame_beside_its_confidence_per_pool() -> None:
    import torch

    from scenecolor.colorize.data import ClipSet
    from scenecolor.colorize.model import SceneColorizer
    from scenecolor.colorize.train import TrainConfig
    from scenecolor.workbook.colorize.figures import plot_confidence_sample

    rng = np.random.default_rng(3)
    red = rgb_to_lab(_texture(rng, RED, 5))
    noise = rgb_to_lab(rng.integers(0, 256, (1, S, S, 3), dtype=np.uint8))
    data = ClipSet(
        split="val",
        lab=np.concatenate([red, noise]).astype(np.float32),
        clips=np.array([[0, 1, 2]]),
        refs={"in_domain": [[3, 4]], "open": [[5]]},
        clip_shots=["red_s"],
        clip_videos=["red"],
    )
    cfg = TrainConfig(resolution=S, width=0.25, clip_len=3, max_refs=2)
    torch.manual_seed(0)
    model = SceneColorizer(cfg.model_config()).eval()
    fig = plot_confidence_sample(model, data, cfg, verify=VerifyConfig(threshold=0.3))
    texts = [t.get_text() for t in fig.findobj(plt.Text)]
    assert "ours, open: 0 of 1 refs kept" in texts  # noise: dropped
    assert any(t in texts for t in ("ours, in_domain: 1 of 2 refs kept", "ours, in_domain: 2 of 2 refs kept"))
    confidences = [t for t in texts if t.startswith("confidence (mean")]
    assert confidences[1] == "confidence (mean 0.00)" and confidences[0] != confidences[1]
    assert fig.get_size_inches()[0] <= F.PAGE_WIDTH_IN
    plt.close(fig)
