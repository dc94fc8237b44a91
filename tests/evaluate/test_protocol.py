"""scenecolor.evaluate.protocol (+ its tables and figures) on a tiny synthetic run folder."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenecolor import paper
from scenecolor.colorize.backend import TorchColorizer
from scenecolor.core.artifacts import atomic_write_json
from scenecolor.core.errors import DataError
from scenecolor.core.video import count_frames, write_video
from scenecolor.data.frames import FrameStore, FrameStoreBuilder, Preprocess
from scenecolor.evaluate import protocol as E
from scenecolor.evaluate.baselines import GrayOutput, ReinhardTransfer, WelshTransfer
from scenecolor.workbook import runs
from scenecolor.workbook.evaluate import figures as F
from scenecolor.workbook.evaluate import tables as T

S = 48  # frame store side; the tiny colorizer works at 32 (so the resize path is exercised)


def _texture(rng: np.random.Generator, colour: tuple[int, int, int], n: int, h: int = S, w: int = S) -> np.ndarray:
    """n frames of a coloured, shifting texture (uint8 RGB)."""
    base = rng.uniform(0.4, 1.0, (h + n, w + n))
    frames = []
    for t in range(n):
        lum = base[t : t + h, t : t + w, None]
        frames.append(np.clip(lum * np.array(colour)[None, None, :], 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run folder with 00 (store + two test videos), 02 (scenes.json), 03 (references.csv)."""
    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    data = root / "artifacts" / "00_data_prep"
    shots = {
        "red_s": (_texture(rng, (220, 60, 40), 12), "test"),
        "blue_s": (_texture(rng, (40, 80, 220), 12), "test"),
        "green_s": (_texture(rng, (50, 200, 60), 12), "train"),
    }
    store_ids: dict[str, list[int]] = {}
    with FrameStoreBuilder(data / "frames", size=S) as builder:
        for shot, (frames, split) in shots.items():
            store_ids[shot] = [
                builder.add(
                    f, video_id=shot, shot_id=shot, split=split, source_frame=i, source=shot, synthetic_motion=True
                )
                for i, f in enumerate(frames[::2])
            ]
    write_video(data / "test_videos" / "v0.mp4", np.concatenate([shots["red_s"][0][:6], shots["blue_s"][0][:6]]), 25.0)
    write_video(data / "test_videos" / "v1.mp4", np.concatenate([shots["green_s"][0][:4], shots["red_s"][0][:4]]), 25.0)
    atomic_write_json(
        data / "test_videos.json",
        {
            "videos": [
                {
                    "video_id": "v0",
                    "path": "test_videos/v0.mp4",
                    "n_frames": 12,
                    "fps": 25.0,
                    "cuts": [6],
                    "transitions": [{"kind": "hard", "start": 6, "end": 6, "cut": 6}],
                    "shots": [
                        {"shot_id": "red_s", "start": 0, "end": 6, "split": "test"},
                        {"shot_id": "blue_s", "start": 6, "end": 12, "split": "test"},
                    ],
                },
                {
                    "video_id": "v1",
                    "path": "test_videos/v1.mp4",
                    "n_frames": 8,
                    "fps": 25.0,
                    "cuts": [4],
                    "transitions": [{"kind": "hard", "start": 4, "end": 4, "cut": 4}],
                    "shots": [
                        {"shot_id": "green_s", "start": 0, "end": 4, "split": "train"},
                        {"shot_id": "red_s", "start": 4, "end": 8, "split": "test"},
                    ],
                },
            ]
        },
    )
    atomic_write_json(data / "meta.json", {"params": {"size": S, "mean_filter": 3, "resize_mode": "stretch"}})
    scenes = {
        "v0": {"scenes": [{"start": 0, "end": 6, "keyframe": 2}, {"start": 6, "end": 12, "keyframe": 8}]},
        "v1": {"scenes": [{"start": 0, "end": 4, "keyframe": 1}, {"start": 4, "end": 8, "keyframe": 5}]},
    }
    atomic_write_json(root / "artifacts" / "02_scene_analysis" / "scenes.json", scenes)
    rows = []
    scene_shots = {("v0", 0): "red_s", ("v0", 1): "blue_s", ("v1", 0): "green_s", ("v1", 1): "red_s"}
    for (vid, scene), shot in scene_shots.items():
        for pool in ("in_domain", "open"):
            source = store_ids[shot] if pool == "in_domain" else store_ids["green_s"]
            for rank in range(1, 6):
                rows.append(
                    {
                        "query_kind": "scene",
                        "video_id": vid,
                        "scene": scene,
                        "shot_id": "",
                        "query_frame_id": 0,
                        "pool": pool,
                        "rank": rank,
                        "ref_frame_id": source[(rank - 1) % len(source)],
                        "score": 1.0 / rank,
                    }
                )
    (root / "artifacts" / "03_reference_selection").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "artifacts" / "03_reference_selection" / "references.csv", index=False)
    return root


def _videos(run: Path, **kw):
    return E.load_eval_videos(
        run / "artifacts" / "00_data_prep",
        run / "artifacts" / "02_scene_analysis" / "scenes.json",
        Preprocess(size=S, mean_filter=3),
        **kw,
    )


def _tiny_model():
    """A small untrained colorizer at 32 px, built the way notebook 04 scales its widths."""
    import torch

    from scenecolor.colorize.model import SceneColorizer
    from scenecolor.colorize.train import TrainConfig

    torch.manual_seed(0)
    return SceneColorizer(TrainConfig(resolution=32, width=0.25).model_config()).eval()


def test_steady_segments_skip_cuts_and_transition_frames():
    assert E.steady_segments(20, [5, 12], [(5, 5), (10, 14)]) == [(0, 5), (5, 10), (14, 20)]
    assert E.steady_segments(6, [], []) == [(0, 6)]


def test_load_eval_videos_maps_scenes_to_kept_frames(run):
    v0, v1 = _videos(run, frame_step=2)
    assert v0.frames.shape == (6, S, S, 3) and v0.frames.dtype == np.uint8
    assert v0.scenes == [(0, 3), (3, 6)] and v0.steady == [(0, 3), (3, 6)]
    np.testing.assert_array_equal(v0.source_frames, [0, 2, 4, 6, 8, 10])
    # v1 opens with a train-split shot: only its test frames (4..7) are scored, as scene 1
    np.testing.assert_array_equal(v1.source_frames, [4, 6])
    assert v1.scenes == [(0, 2)] and v1.scene_ids == [1]


def test_load_eval_videos_limits(run):
    (v0,) = _videos(run, max_videos=1, max_frames=4)
    assert v0.n_frames == 4 and v0.scenes == [(0, 4)] and v0.scene_ids == [0]
    _, v1 = _videos(run, test_shots_only=False)
    assert v1.n_frames == 8 and v1.scene_ids == [0, 1]


def test_load_eval_videos_missing_inputs(run, tmp_path):
    with pytest.raises(DataError, match="00_data_prep"):
        E.load_eval_videos(tmp_path, run / "artifacts" / "02_scene_analysis" / "scenes.json", Preprocess(size=S))
    with pytest.raises(DataError, match="scene-analysis step"):
        E.load_eval_videos(run / "artifacts" / "00_data_prep", tmp_path / "scenes.json", Preprocess(size=S))
    atomic_write_json(tmp_path / "scenes.json", {"v0": {"scenes": [{"start": 0, "end": 12, "keyframe": 6}]}})
    with pytest.raises(DataError, match="no entry for test video 'v1'"):
        E.load_eval_videos(run / "artifacts" / "00_data_prep", tmp_path / "scenes.json", Preprocess(size=S))
    with pytest.raises(DataError, match="frame_step"):
        _videos(run, frame_step=0)


def test_eval_video_rejects_scenes_that_do_not_tile():
    with pytest.raises(DataError, match="tile"):
        E.EvalVideo("x", np.zeros((4, 8, 8, 3), np.uint8), 25.0, [(0, 2)], [], np.arange(4))


def test_reference_table_errors(run, tmp_path):
    with pytest.raises(DataError, match="reference-selection step"):
        E.ReferenceTable.read(tmp_path / "none.csv")
    pd.DataFrame({"video_id": ["v0"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="lacks columns"):
        E.ReferenceTable.read(tmp_path / "bad.csv")
    refs = E.ReferenceTable.read(run / "artifacts" / "03_reference_selection" / "references.csv")
    assert refs.pools() == ["in_domain", "open"]
    assert len(refs.ids("open", "v0", 0, 3)) == 3
    with pytest.raises(DataError, match="no 'open' references for scene 7"):
        refs.ids("open", "v0", 7, 1)
    short = refs.table[refs.table["rank"] <= 2]
    with pytest.raises(DataError, match="2 'in_domain' references, 5 asked"):
        E.ReferenceTable(short).ids("in_domain", "v0", 0, 5)


@pytest.fixture(scope="module")
def result(run):
    videos = _videos(run, frame_step=1)
    refs = E.ReferenceTable.read(run / "artifacts" / "03_reference_selection" / "references.csv")
    store = FrameStore.open(run / "artifacts" / "00_data_prep")
    ours = E.ColorizerMethod(TorchColorizer(_tiny_model()), clip_len=4)
    baselines = [WelshTransfer(n_samples=20), ReinhardTransfer(), GrayOutput()]
    res = E.evaluate(videos, refs, store, ours, baselines, ["in_domain", "open"], [1, 2], main_refs=2)
    return videos, res


def test_evaluate_runs_every_planned_setting(result):
    videos, res = result
    rows = res.rows
    per_video = rows.groupby("video_id").size().to_dict()
    assert per_video == {"v0": 2 * 2 + 3 * 2, "v1": 10}  # ours: 2 pools x 2 R; 3 baselines x 2 pools at R = 2
    ours = rows[rows["method"] == E.OURS]
    assert sorted(set(zip(ours["pool"], ours["n_refs"]))) == [
        ("in_domain", 1),
        ("in_domain", 2),
        ("open", 1),
        ("open", 2),
    ]
    gray = rows[rows["method"].str.startswith("gray")]
    assert gray.groupby("video_id")["PSNR"].nunique().eq(1).all()  # run once, listed under both pools
    assert np.isfinite(rows["PSNR"]).all() and (rows["sec_per_frame"] > 0).all()
    assert rows["SSIM"].between(-1, 1).all() and (rows["CDC"] >= 0).all()
    assert (rows["n_frames"] == rows["video_id"].map({"v0": 12, "v1": 4})).all()
    for method in rows["method"].unique():
        for v in videos:
            assert res.outputs[(method, v.video_id)].shape == v.frames.shape
    assert len(res.references["v0"]) == 2 and res.references["v0"][0].shape == (2, S, S, 3)


def test_save_rows_writes_every_row(result, tmp_path):
    _, res = result
    path = E.save_rows(res, tmp_path)
    back = pd.read_csv(path)
    assert len(back) == len(res.rows) and list(back.columns) == list(res.rows.columns)


def test_in_domain_references_beat_open_for_reinhard(result):
    # in-domain references are frames of the very shot: the mean colour is right, so
    # Reinhard's flat paint lands far closer than with the green training shot as reference.
    _, res = result
    r = res.rows[res.rows["method"].str.startswith("Reinhard")].groupby("pool")["PSNR"].mean()
    assert r["in_domain"] > r["open"] + 3


def test_gray_scores_match_a_direct_computation(result):
    from scenecolor.evaluate import metrics as M

    videos, res = result
    v0 = videos[0]
    row = res.rows[(res.rows["method"].str.startswith("gray")) & (res.rows["video_id"] == "v0")].iloc[0]
    direct = E.render(v0, np.zeros((*v0.frames.shape[:3], 2), np.float32))
    assert row["PSNR"] == pytest.approx(M.psnr(v0.frames, direct).mean())
    assert row["colorfulness"] < 3.0  # gray output has (almost) no colour


def test_roundtrip_is_near_lossless(result):
    videos, _ = result
    check = E.roundtrip_check(videos)
    assert (check["PSNR"] > 40).all() and (check["SSIM"] > 0.99).all()


def test_colorizer_method_shapes_and_determinism():
    method = E.ColorizerMethod(TorchColorizer(_tiny_model()), clip_len=3)
    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (5, S, S))
    refs = np.stack(
        [rng.uniform(0, 100, (2, S, S)), rng.uniform(-40, 40, (2, S, S)), rng.uniform(-40, 40, (2, S, S))], -1
    )
    ab = method(L, refs)
    assert ab.shape == (5, S, S, 2) and ab.dtype == np.float32 and np.isfinite(ab).all()
    np.testing.assert_array_equal(ab, method(L, refs))
    with pytest.raises(DataError, match="refs_lab"):
        method(L, refs[0])


def test_aggregate_weights_frames_segments_and_pairs():
    rows = pd.DataFrame(
        [
            {
                "method": "m",
                "n_frames": 10,
                "n_segments": 1,
                "n_pairs": 9,
                "CDC": 0.1,
                "dAB": 1.0,
                "dAB_gt": 1.0,
                "dAB_err": 1.0,
                "colorfulness": 1.0,
                "sec_per_frame": 0.1,
                **{k: 10.0 for k in T.IMAGE_MEASURES},
            },
            {
                "method": "m",
                "n_frames": 30,
                "n_segments": 3,
                "n_pairs": 27,
                "CDC": 0.5,
                "dAB": 3.0,
                "dAB_gt": 1.0,
                "dAB_err": 2.0,
                "colorfulness": 1.0,
                "sec_per_frame": 0.3,
                **{k: 20.0 for k in T.IMAGE_MEASURES},
            },
        ]
    )
    rows.loc[1, "PCC"] = math.nan  # undefined frames do not drag the mean
    agg = T.aggregate(rows, ["method"]).iloc[0]
    assert agg["PSNR"] == pytest.approx((10 * 10 + 20 * 30) / 40)
    assert agg["PCC"] == pytest.approx(10.0)
    assert agg["CDC"] == pytest.approx((0.1 + 0.5 * 3) / 4)
    assert agg["dAB"] == pytest.approx((9 + 81) / 36)
    assert agg["sec_per_frame"] == pytest.approx((1 + 9) / 40)
    assert agg["n_frames"] == 40 and agg["n_videos"] == 2


def test_tables_label_quoted_rows(result):
    _, res = result
    t3 = T.table_iii(res.rows, E.OURS)
    assert list(zip(t3["pool"], t3["n_refs"])) == [("in_domain", 1), ("in_domain", 2), ("open", 1), ("open", 2)]
    t4 = T.table_iv(res.rows, 2)
    both = T.with_quoted(t4, paper.PAPER_TABLE_IV)
    assert set(both["source"]) == {T.MEASURED, T.QUOTED}
    assert (both[both["source"] == T.QUOTED]["PSNR"] == paper.PAPER_TABLE_IV["PSNR"].to_numpy()).all()
    t5 = T.table_v({"method": "ours", "PSNR": 20.0, "SSIM": 0.9, "sec_per_frame": 0.01, "size_MB": 1.0})
    assert t5.iloc[0]["source"] == T.MEASURED and (t5.iloc[1:]["source"] == T.QUOTED).all()
    pv = T.per_video(res.rows, "in_domain", 2)
    assert len(pv) == 2 * 4


def test_upstream_summary_reads_results(tmp_path):
    atomic_write_json(
        tmp_path / "artifacts" / "02_scene_analysis" / "results.json",
        {
            "metrics": [{"name": "F1", "value": 0.9, "unit": "", "source": "measured", "note": ""}],
            "tables": [{"name": "cuts", "rows": [{"video": "a", "f1": 1.0}]}],
            "figures": [],
        },
    )
    s = runs.upstream_summary(tmp_path)
    assert s.iloc[0]["name"] == "F1" and s.iloc[0]["value"] == 0.9
    assert s.iloc[1]["step"] == "03_reference_selection" and s.iloc[1]["note"] == "step not run"


def test_figures_and_videos(result, tmp_path):
    import matplotlib.pyplot as plt

    videos, res = result
    methods = [E.OURS, "Welsh (luminance match)"]
    for fig in (
        F.side_by_side(videos, res, methods, max_rows=3),
        F.per_video_bars(T.per_video(res.rows, "in_domain", 2)),
        F.quality_vs_refs(T.table_iii(res.rows, E.OURS), T.table_iv(res.rows, 2), E.OURS),
        F.frame_strip(videos[0], res, methods, n=4),
    ):
        assert fig.axes
        plt.close(fig)
    paths = F.write_videos(tmp_path, videos, res, E.OURS, methods)
    assert [p.name for p in paths] == ["v0_ours.mp4", "v0_compare.mp4", "v1_ours.mp4", "v1_compare.mp4"]
    assert count_frames(paths[0]) == 12 and count_frames(paths[3]) == 4
    gif = F.write_gif(tmp_path / "v0.gif", F.comparison_frames(videos[0], res, methods), 25.0, max_frames=4, width=200)
    assert gif.stat().st_size > 0
    tile = F.reference_tile(np.zeros((5, S, S, 3), np.uint8), S)
    assert tile.shape == (S, S, 3)


def test_trend_with_refs_reads_the_slope():
    t3 = pd.DataFrame(
        {
            "pool": ["a"] * 3 + ["b"] * 3,
            "n_refs": [1, 2, 3] * 2,
            "PSNR": [20.0, 21.0, 22.0, 22.0, 20.0, 21.0],
            "SSIM": [0.5] * 6,
            "CDC": [0.03, 0.02, 0.01, 0.01, 0.02, 0.03],
        }
    )
    tr = T.trend_with_refs(t3).set_index(["pool", "measure"])
    assert tr.loc[("a", "PSNR"), "better_with_more_refs"] and tr.loc[("a", "PSNR"), "monotone"]
    assert tr.loc[("a", "PSNR"), "slope_per_ref"] == pytest.approx(1.0)
    assert not tr.loc[("b", "PSNR"), "better_with_more_refs"]  # 22 -> 20 -> 21: slope -0.5
    assert tr.loc[("a", "CDC"), "better_with_more_refs"] and not tr.loc[("b", "CDC"), "better_with_more_refs"]
    assert not tr.loc[("a", "SSIM"), "better_with_more_refs"]  # flat is not "rising"


def test_target_check():
    t4 = pd.DataFrame(
        {
            "pool": ["p"] * 3,
            "method": ["ours", "W", "R"],
            "PSNR": [25.0, 24.0, 26.0],
            "SSIM": [0.9, 0.8, 0.95],
            "CDC": [0.01, 0.01, 0.02],
        }
    )
    tc = T.target_check(t4, "ours", ["W", "R"]).set_index(["rival", "measure"])["met"]
    assert tc[("W", "PSNR")] and tc[("W", "SSIM")] and tc[("W", "CDC")]  # CDC equal counts as no worse
    assert not tc[("R", "PSNR")] and not tc[("R", "SSIM")] and tc[("R", "CDC")]


def test_store_preprocess_and_video_table(run, tmp_path):
    prep = FrameStore.open(run / "artifacts" / "00_data_prep").preprocess
    assert (prep.size, prep.mean_filter, prep.resize_mode) == (S, 3, "stretch")
    with pytest.raises(DataError, match="frame store"):
        _ = FrameStore.open(tmp_path).preprocess
    table = T.video_table(_videos(run, frame_step=2))
    assert list(table["frames"]) == [6, 2] and list(table["detected scenes"]) == [2, 1]


def test_render_rejects_wrong_ab_shape(run):
    (v0,) = _videos(run, max_videos=1)
    with pytest.raises(DataError, match="predicted ab has shape"):
        E.render(v0, np.zeros((3, S, S, 2), np.float32))


def test_compare_videos_and_cli(run, tmp_path, capsys):
    from scenecolor.cli import main
    from scenecolor.core.artifacts import read_json

    truth = run / "artifacts" / "00_data_prep" / "test_videos" / "v0.mp4"
    same = E.compare_videos(truth, truth)
    assert same["n_frames"] == 12 and same["PSNR"] == math.inf and same["SSIM"] == pytest.approx(1.0)
    assert same["CDC"] == pytest.approx(same["CDC_truth"]) and same["dAB_err"] == 0.0
    from scenecolor.core.video import read_frames

    frames = read_frames(truth)
    write_video(tmp_path / "gray.mp4", np.repeat(frames.mean(axis=3, keepdims=True).astype(np.uint8), 3, axis=3), 25.0)
    scores = E.compare_videos(truth, tmp_path / "gray.mp4", max_frames=5)
    assert scores["n_frames"] == 5 and scores["PSNR"] < 30 and scores["dAB"] < scores["dAB_gt"]
    assert main(["metrics", str(truth), str(tmp_path / "gray.mp4"), "--json", str(tmp_path / "s.json")]) == 0
    assert "PSNR" in capsys.readouterr().out and read_json(tmp_path / "s.json")["n_frames"] == 12
    write_video(tmp_path / "short.mp4", frames[:4], 25.0)
    assert main(["metrics", str(truth), str(tmp_path / "short.mp4")]) == 2
    assert "differ in frame count" in capsys.readouterr().err
    write_video(tmp_path / "small.mp4", frames[:, :32, :32], 25.0)
    with pytest.raises(DataError, match="resize to the same size"):
        E.compare_videos(truth, tmp_path / "small.mp4")


def test_save_rows_keeps_the_old_file_when_writing_fails(result, tmp_path, monkeypatch):
    _, res = result
    path = E.save_rows(res, tmp_path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        E.save_rows(res, tmp_path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


@pytest.mark.parametrize(
    "values, match",
    [
        ({"references": [0, 2]}, "references must be in 1..5"),
        ({"main_references": 6}, "main_references"),
        ({"welsh_window": 4}, "welsh_window must be odd"),
        ({"pools": ["everything"]}, "pools"),
        ({"frame_step": 0}, "frame_step"),
        ({"max_frame": 3}, "unknown parameter 'max_frame'"),
    ],
)
def test_evaluation_params_are_validated(values, match):
    from scenecolor.core.errors import ParameterError
    from scenecolor.workbook.pipeline import validate_params

    with pytest.raises(ParameterError, match=match):
        validate_params("05_evaluation", values)
